/* `trellis pki`: the consortium's certificates (root CA, organisation CAs,
 * node and agent certificates, CRLs) made with the OpenSSL API. */
#ifndef PKI_H
#define PKI_H

/* Run `trellis pki ...`; argv[0] is "pki". Returns the process exit status:
 * 0, 1 when the command failed, 2 when the command line is wrong. Errors go
 * to stderr as one "trellis: " line. */
int pki_main(int argc, char **argv);

#endif
