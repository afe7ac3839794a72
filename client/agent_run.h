/* trellis agent run: the long-running agent. It watches the inbox folder;
 * a file is taken once it is complete (its size and time unchanged for
 * [agent] settle seconds; names starting with '.' or ending in .tmp, .part
 * or ~ are never taken, so a CMS may write under such a name and rename),
 * read with the mapping its name matches in [mappings], spooled, and moved
 * to done/ — or to failed/ with a .why file beside it saying why, by line.
 * Between files it sends the spool. With [agent] directory_out, a second
 * thread keeps the directory file current through the long-poll change feed
 * on a connection of its own. SIGTERM or SIGINT: it finishes the file in
 * hand and stops. */
#ifndef AGENT_RUN_H
#define AGENT_RUN_H

/* argc/argv from after "run". */
int agent_run_main(int argc, char **argv);

#endif
