/** Corral's version, as `--version` and the state endpoints report it. */
export const VERSION = '0.1.0';
