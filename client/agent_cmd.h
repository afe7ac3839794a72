/* trellis agent init|status|run. */
#ifndef AGENT_CMD_H
#define AGENT_CMD_H

int agent_main(int argc, char **argv);

#endif
