/** The private Mosquitto launcher lives with the soak, which needs it in production; the tests use the same one. */
export { startMosquitto, type Mosquitto, type MosquittoOptions } from '../../daemon/soak/mosquitto.js';
