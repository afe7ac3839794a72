/* trellis quarantine / trellis refused: the records held back on this
 * machine, the first because their free text carries personal data, the
 * second because the node refused them. */
#ifndef HELD_CMD_H
#define HELD_CMD_H

int quarantine_main(int argc, char **argv);
int refused_main(int argc, char **argv);

#endif
