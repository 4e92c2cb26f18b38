/**
 * The limits both transports share, so stdio and HTTP accept the same messages.
 *
 * @module
 */

/**
 * The largest message accepted, in bytes: a stdio line, an HTTP request body. Every input limit the
 * tools advertise fits under it (ask's images, 48 MiB in all, are the largest).
 */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
