-- Prosody for docker-compose.yml: the XMPP server that sealpost's vault account and the agents
-- use. Mounted read-only at /etc/prosody/prosody.cfg.lua in the prosody/prosody:0.12 image.
-- Written for Prosody 0.12 (ENV_NAME reads the environment variable NAME).
--
-- As shipped it is a single-domain server for a trusted network: plain c2s on 5222 (published
-- on the host's loopback only, see docker-compose.yml), no federation, no open registration.
-- Before exposing it: put a certificate and key for the domain in a directory mounted at
-- /etc/prosody/certs and start with PROSODY_REQUIRE_TLS=true.

local domain = ENV_SEALPOST_XMPP_DOMAIN or "localhost"
local vault = (ENV_SEALPOST_VAULT_USER or "vault") .. "@" .. domain

admins = { }
pidfile = "/var/run/prosody/prosody.pid"
data_path = "/var/lib/prosody"
certificates = "certs"
log = { { levels = { min = "info" }, to = "console" } }

interfaces = { "*" }
c2s_ports = { 5222 }
s2s_ports = { } -- no federation; remove this line and "s2s" below to federate
http_ports = { }
https_ports = { }
component_ports = { }

modules_enabled = {
	"roster"; "saslauth"; "tls"; "disco"; "pep"; "ping"; "register";
	"offline"; "mam"; "smacks"; "carbons"; "blocklist"; "limits";
	"csi_simple"; "time"; "version"; "uptime"; "posix";
}
modules_disabled = { "s2s" }

-- Authentication: salted SCRAM hashes at rest; PLAIN never in clear text.
authentication = "internal_hashed"
storage = "internal"
c2s_require_encryption = ENV_PROSODY_REQUIRE_TLS == "true"
allow_unencrypted_plain_auth = false

-- Accounts are created by the operator (prosodyctl register USER DOMAIN PASS) or, for the vault,
-- by the image's entrypoint from LOCAL/DOMAIN/PASSWORD. No in-band registration.
allow_registration = false

-- Stanza limit: sealpost's SEALPOST_MAX_STANZA_BYTES defaults to the same 256 KiB.
c2s_stanza_size_limit = 256 * 1024

-- Large stanzas (sealpost's batches): Prosody 0.12 reads 8 KiB at a time and, when bytes are left
-- in its read buffer, comes back after a timer that waits at least min_wait (default 1 ms). With
-- 10 µs, 64-item batches pass 3-4x faster; nothing else changes (npm run bench, issue 9).
network_settings = { min_wait = 0.00001 }

-- Rate limits for clients; the vault delivers to everyone and must not be throttled.
limits = { c2s = { rate = "256kb/s"; burst = "2s" } }
unlimited_jids = { vault }

-- Stream management: a dropped agent gets 5 minutes to resume before messages go offline.
smacks_hibernation_time = 300

-- Message archive (XEP-0313) of the server itself: holds only sealed ciphertext, kept briefly.
archive_expires_after = "1w"
default_archive_policy = "roster"

VirtualHost(domain)
