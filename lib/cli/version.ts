/** Corral's own version, as `--version` prints it and the state and version endpoints show it as `corral_version`. */
export const VERSION = '0.1.0';

/**
 * The Mesos release whose v1 APIs Corral speaks, reported wherever Mesos reports its version
 * (`/version`'s and `/master/state`'s `version`, MasterInfo.version in SUBSCRIBED and in
 * ZooKeeper, the agents' `version`): clients choose features by it (pymesos, for one, offers
 * GPU_RESOURCES only from 1.0). 1.9 added the last scheduler call Corral has (UPDATE_FRAMEWORK);
 * what Corral leaves out of 1.9 is listed in the README ("Mesos compatibility").
 */
export const MESOS_VERSION = '1.9.0';
