import { BlockList, isIP } from 'node:net';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { NotifySendError } from './notify-send-error.ts';

/**
 * Berth sends notifications from the server it runs on, so a URL pointing
 * inside that network (a metadata service at 169.254.169.254, an admin
 * page on 127.0.0.1, a router at 192.168.1.1) would let whoever writes
 * the config, or a chat service answering with a redirect, reach hosts the
 * outside cannot. Unless a channel sets `allow_private`, such addresses are
 * refused before connecting, and the connection goes to the very address
 * that was checked, so a name that resolves differently a moment later (DNS
 * rebinding) gains nothing.
 *
 * Limits: plain `http://` is allowed to public hosts (what it carries can be
 * read on the way); a proxy configured in the environment is not used.
 */
const PRIVATE = new BlockList();
// IPv4: "this network", loopback, RFC 1918, CGNAT (RFC 6598), link-local, multicast and reserved.
PRIVATE.addSubnet('0.0.0.0', 8, 'ipv4');
PRIVATE.addSubnet('10.0.0.0', 8, 'ipv4');
PRIVATE.addSubnet('100.64.0.0', 10, 'ipv4');
PRIVATE.addSubnet('127.0.0.0', 8, 'ipv4');
PRIVATE.addSubnet('169.254.0.0', 16, 'ipv4');
PRIVATE.addSubnet('172.16.0.0', 12, 'ipv4');
PRIVATE.addSubnet('192.168.0.0', 16, 'ipv4');
PRIVATE.addSubnet('224.0.0.0', 3, 'ipv4');
// IPv6: unspecified, loopback, unique local (RFC 4193), link-local, multicast.
PRIVATE.addAddress('::', 'ipv6');
PRIVATE.addAddress('::1', 'ipv6');
PRIVATE.addSubnet('fc00::', 7, 'ipv6');
PRIVATE.addSubnet('fe80::', 10, 'ipv6');
PRIVATE.addSubnet('ff00::', 8, 'ipv6');

/** Whether `address` (an IP literal) is one a channel may not reach without `allow_private`. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return PRIVATE.check(address, 'ipv4');
  // BlockList judges an IPv4-mapped IPv6 address (::ffff:127.0.0.1) by the IPv4 address it stands for.
  return family === 6 && PRIVATE.check(address, 'ipv6');
}

/** The refusal, not retryable: the address will not become public by waiting. */
export function privateAddressError(host: string, address: string): NotifySendError {
  const shown = host === address ? host : `${host} (${address})`;
  return new NotifySendError(`Refused to connect to ${shown}: a loopback, private or link-local address; set allow_private = true on the channel if it is meant to reach the local network`, {
    retryable: false,
    code: 'E_NOTIFY_PRIVATE_ADDRESS',
  });
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** The `lookup` function `net.connect` and `http.request` accept. */
export type LookupFunction = (hostname: string, options: { all?: boolean; family?: number | string }, callback: LookupCallback) => void;

/**
 * A `lookup` for `http.request` / `net.connect` that refuses private
 * addresses unless `allowPrivate`: the socket connects to an address this
 * function returned, so what was checked is what is used. Every address a
 * name has must be public, or the name is refused: a name that resolves to
 * both is someone's trick or someone's mistake.
 */
export function checkedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true } as { all: true }, (error, addresses) => {
      if (error !== null) {
        callback(error, options.all === true ? [] : '', undefined);
        return;
      }
      if (!allowPrivate) {
        const bad = addresses.find((entry) => isPrivateAddress(entry.address));
        if (bad !== undefined) {
          callback(privateAddressError(hostname, bad.address) as unknown as NodeJS.ErrnoException, options.all === true ? [] : '', undefined);
          return;
        }
      }
      if (options.all === true) {
        callback(null, addresses);
        return;
      }
      const first = addresses[0];
      if (first === undefined) {
        callback(Object.assign(new Error(`No address for ${hostname}`), { code: 'ENOTFOUND' }), '', undefined);
        return;
      }
      callback(null, first.address, first.family);
    });
  };
}

/**
 * The one address to connect to for `host`, checked as `checkedLookup`
 * checks: for clients (nodemailer) that take a host but no lookup function.
 * Connect to the returned address and send `host` as the TLS server name.
 */
export async function resolveChecked(host: string, allowPrivate: boolean): Promise<string> {
  const literal = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (isIP(literal) !== 0) {
    if (!allowPrivate && isPrivateAddress(literal)) throw privateAddressError(host, literal);
    return literal;
  }
  const lookup = checkedLookup(allowPrivate);
  return new Promise((resolve, reject) => {
    lookup(host, {}, (error, address) => {
      if (error !== null) reject(error);
      else resolve(address as string);
    });
  });
}
