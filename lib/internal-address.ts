/**
 * Addresses a server-side request must not reach because a client named them
 * (SSRF): loopback, private, link-local (cloud metadata at 169.254.169.254),
 * carrier-grade NAT, unique-local, multicast, reserved and unspecified ranges.
 * Used for Web Push endpoints, which any signed-in user registers and the server
 * then POSTs to. `guardedLookup` checks what a host name resolves to at connect
 * time, so a name that re-resolves to an internal address later (DNS rebinding)
 * is refused too, not only a name that did when it was registered.
 */
import dns from "node:dns";
import net, { type LookupFunction } from "node:net";

const INTERNAL = new net.BlockList();
for (const [prefix, bits] of [
	["0.0.0.0", 8],
	["10.0.0.0", 8],
	["100.64.0.0", 10],
	["127.0.0.0", 8],
	["169.254.0.0", 16],
	["172.16.0.0", 12],
	["192.0.0.0", 24],
	["192.168.0.0", 16],
	["198.18.0.0", 15],
	["224.0.0.0", 4],
	["240.0.0.0", 4],
] as const)
	INTERNAL.addSubnet(prefix, bits, "ipv4");
for (const [prefix, bits] of [
	["::", 128],
	["::1", 128],
	["64:ff9b::", 96],
	["fc00::", 7],
	["fe80::", 10],
	["ff00::", 8],
] as const)
	INTERNAL.addSubnet(prefix, bits, "ipv6");

/** True for an address in any of the ranges above (an IPv4-mapped IPv6 address is judged as its IPv4 address). */
export function isInternalAddress(address: string): boolean {
	const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
	const ip = mapped ? mapped[1] : address;
	const family = net.isIP(ip);
	if (family === 0) return true; // not an address at all: refuse rather than guess
	return INTERNAL.check(ip, family === 4 ? "ipv4" : "ipv6");
}

/**
 * A URL host (WHATWG `url.hostname`) that names an internal address by itself, before any lookup: an IP
 * literal in the ranges above ([v6] brackets allowed) or a `localhost` name. Other names are judged when
 * they are resolved (`guardedLookup`).
 */
export function isInternalHostLiteral(hostname: string): boolean {
	const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
	if (host === "localhost" || host.endsWith(".localhost")) return true;
	return net.isIP(host) !== 0 && isInternalAddress(host);
}

export class InternalAddressError extends Error {
	constructor(host: string) {
		super(`${host} resolves to an internal address`);
	}
}

/** dns.lookup for http(s).request that fails when any address of the host is internal. */
export const guardedLookup: LookupFunction = (hostname, options, callback) => {
	dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
		if (err) return callback(err, "", 0);
		if (addresses.length === 0 || addresses.some((a) => isInternalAddress(a.address)))
			return callback(new InternalAddressError(hostname), "", 0);
		if (options.all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, addresses);
		callback(null, addresses[0].address, addresses[0].family);
	});
};
