/* The resident spawner of supervisors (spawner.c): `corral-containerizer spawner`. */
#ifndef CORRAL_CONTAINERIZER_SPAWNER_H
#define CORRAL_CONTAINERIZER_SPAWNER_H

/* Serves requests on stdin until EOF; returns only on a fatal error (after printing it). */
int spawner_main(void);

#endif
