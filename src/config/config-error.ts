/** A setting that is missing or wrong: the start stops with a message naming the variable. */
export class ConfigError extends Error {}
