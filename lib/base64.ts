/**
 * Base64 of bytes without a dependency (`jsr:@std/encoding` is out of reach here).
 *
 * @module
 */

/**
 * Encodes bytes as standard base64.
 *
 * @param bytes The bytes
 * @returns The base64 text
 */
export function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) {
    binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
  }
  return btoa(binary);
}
