/**
 * A server's address, and its printable form for both programs' messages
 * and logs.
 *
 * @module
 */

/** One server's address. */
export interface ServerAddress {
  /** Host name, IPv4 or IPv6 literal (without brackets). */
  hostname: string;
  /** TCP port, from 1 to 65535. */
  port: number;
}

/**
 * Formats an address for messages and logs: `host:port`, `[v6]:port`.
 *
 * @param address The address.
 * @returns The printable form.
 */
export function formatAddress(address: ServerAddress): string {
  return address.hostname.includes(":")
    ? `[${address.hostname}]:${address.port}`
    : `${address.hostname}:${address.port}`;
}
