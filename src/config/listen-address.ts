import { isIP } from 'node:net';

export interface ListenAddress {
  /** An IP address, without brackets. */
  host: string;
  /** 0: any free port (the bound one is logged). */
  port: number;
}

export type ListenAddressCheck = { ok: true; address: ListenAddress } | { ok: false; message: string };

/**
 * `"127.0.0.1:9187"`, `"[::1]:9187"` or `"0.0.0.0:9187"`: an IP address
 * and a port. Host names are refused: what a name resolves to can change,
 * and whether the listener is reachable from outside must be plain from
 * the config.
 */
export function parseListenAddress(text: string): ListenAddressCheck {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+)):([0-9]{1,5})$/.exec(text);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  const expected = 'write an IP address and a port, such as "127.0.0.1:9187" or "[::1]:9187"';
  if (match === null || host === undefined) return { ok: false, message: `${JSON.stringify(text)} is not an address and port; ${expected}` };
  if (isIP(host) !== (match[1] === undefined ? 4 : 6)) return { ok: false, message: `${JSON.stringify(host)} is not an IP address; ${expected}` };
  if (port > 65535) return { ok: false, message: `${port} is not a port (0 to 65535)` };
  return { ok: true, address: { host, port } };
}

/** An address only this machine can reach: 127.0.0.0/8 or ::1. */
export function isLoopback(host: string): boolean {
  return /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::1' || /^(0{0,4}:){7}0{0,3}1$/.test(host) || /^::ffff:127\./i.test(host);
}
