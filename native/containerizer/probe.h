/* One health check in a task's container (probe.c): `corral-containerizer probe ...`. */
#ifndef CORRAL_CONTAINERIZER_PROBE_H
#define CORRAL_CONTAINERIZER_PROBE_H

/* Runs the check described by argv (argv[1] is "probe"); returns the exit code. */
int probe_main(int argc, char **argv);

#endif
