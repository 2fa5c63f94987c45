import { isIP } from 'node:net';
import type { NetworkInterfaceInfo } from 'node:os';

/**
 * The DNS records a new site needs, with this machine's public addresses
 * when its interfaces show any. On most clouds the public IPv4 address is
 * NAT'ed and never appears on an interface; then a placeholder is shown.
 */

export const IPV4_PLACEHOLDER = "<your server's IPv4>";
export const IPV6_PLACEHOLDER = "<your server's IPv6>";

function ipv4Number(address: string): number {
  return address.split('.').reduce((value, part) => value * 256 + Number(part), 0);
}

function inV4(address: string, base: string, bits: number): boolean {
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return ((ipv4Number(address) & mask) >>> 0) === ((ipv4Number(base) & mask) >>> 0);
}

/** Not loopback, private, link-local, shared (CGNAT), documentation or reserved. */
export function isPublicIPv4(address: string): boolean {
  if (isIP(address) !== 4) return false;
  const excluded: Array<[string, number]> = [
    ['0.0.0.0', 8],
    ['10.0.0.0', 8],
    ['100.64.0.0', 10],
    ['127.0.0.0', 8],
    ['169.254.0.0', 16],
    ['172.16.0.0', 12],
    ['192.0.0.0', 24],
    ['192.0.2.0', 24],
    ['192.168.0.0', 16],
    ['198.18.0.0', 15],
    ['198.51.100.0', 24],
    ['203.0.113.0', 24],
    ['224.0.0.0', 3],
  ];
  return !excluded.some(([base, bits]) => inV4(address, base, bits));
}

/** Global unicast (2000::/3), minus documentation (2001:db8::/32). */
export function isPublicIPv6(address: string): boolean {
  if (isIP(address) !== 6) return false;
  const lower = address.toLowerCase();
  if (lower.startsWith('2001:db8:') || lower.startsWith('2001:0db8:')) return false;
  const first = Number.parseInt(lower.split(':')[0] || '0', 16);
  return first >= 0x2000 && first <= 0x3fff;
}

export interface PublicAddresses {
  ipv4: string[];
  ipv6: string[];
}

/** The public addresses among `os.networkInterfaces()`, without duplicates. */
export function publicAddresses(interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>): PublicAddresses {
  const ipv4 = new Set<string>();
  const ipv6 = new Set<string>();
  for (const list of Object.values(interfaces)) {
    for (const info of list ?? []) {
      if (info.internal) continue;
      if (info.family === 'IPv4' && isPublicIPv4(info.address)) ipv4.add(info.address);
      if (info.family === 'IPv6' && isPublicIPv6(info.address)) ipv6.add(info.address);
    }
  }
  return { ipv4: [...ipv4], ipv6: [...ipv6] };
}

/** Names that no public DNS record serves: IP literals, localhost, special-use suffixes. */
function needsNoRecord(domain: string): boolean {
  return isIP(domain) !== 0 || domain === 'localhost' || /\.(localhost|local|test|internal|invalid|lan|home\.arpa)$/.test(domain);
}

export function dnsInstructions(domains: readonly string[], addresses: PublicAddresses): string[] {
  const needed = domains.filter((domain) => !needsNoRecord(domain));
  const lines = ['DNS: at your DNS provider, create these records'];
  if (needed.length === 0) {
    lines.push('  none: every domain is an IP address or a local name');
  } else {
    const records: Array<[string, string, string]> = [];
    for (const domain of needed) {
      for (const address of addresses.ipv4.length === 0 ? [IPV4_PLACEHOLDER] : addresses.ipv4) records.push([domain, 'A', address]);
      for (const address of addresses.ipv6) records.push([domain, 'AAAA', address]);
    }
    const width = Math.max(...records.map(([name]) => name.length));
    lines.push(...records.map(([name, type, value]) => `  ${name.padEnd(width)}  ${type.padEnd(4)}  ${value}`));
    if (addresses.ipv4.length === 0) {
      lines.push("  This machine shows no public IPv4 address (on most clouds it is NAT'ed): use the one your provider lists.");
    }
    if (addresses.ipv6.length === 0) {
      lines.push(`  If the server has a public IPv6 address, add an AAAA record too (${IPV6_PLACEHOLDER}); if not, create none.`);
    }
    lines.push('  Remove any other A/AAAA records for these names: the CA must reach this server for the certificate.');
  }
  lines.push(
    '',
    'Firewall: open TCP ports 80 and 443 to the internet, both in the server\'s own firewall',
    '  (e.g. `ufw allow 80,443/tcp`, or firewalld/nftables/iptables) and in the cloud provider\'s',
    '  security group or security list. Port 80 carries the certificate challenge and redirects.',
  );
  return lines;
}
