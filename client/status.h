/* trellis status: a node's federation status per peer. */
#ifndef STATUS_H
#define STATUS_H

int status_main(int argc, char **argv);

#endif
