/* trellis feedback add|respond|list. */
#ifndef FEEDBACK_CMD_H
#define FEEDBACK_CMD_H

int feedback_main(int argc, char **argv);

#endif
