// The TLS listener's OpenSSL settings (no Asio here: plain SSL_CTX calls, so
// this unit stays out of the Beast/Asio build cost). docs/mirror.md "TLS".
//
// Protocols: TLS 1.2 and 1.3 only. TLS 1.2 suites: ECDHE key exchange with
// AEAD ciphers (AES-GCM, ChaCha20-Poly1305): forward secrecy, no CBC, no
// static RSA; TLS 1.3 keeps OpenSSL's default suites (all AEAD). No
// renegotiation, no compression; the server's suite order wins.
//
// Thread-safety: call these from the thread that runs the handshakes (the
// server's single I/O thread); an SSL_CTX change applies to connections
// accepted afterwards (OpenSSL copies the certificate into each connection).
#pragma once

#include <openssl/ssl.h>

#include <string>

#include "util/status.h"

namespace ag::mirror {

// The TLS 1.2 cipher list set by ConfigureTls (OpenSSL names).
extern const char kTls12Ciphers[];

// Protocol range, suites and options on a server context.
Status ConfigureTls(SSL_CTX* ctx);

// Loads the certificate chain and the private key into ctx; InvalidArgument
// naming the file when either cannot be read or they do not belong together.
Status LoadTlsIdentity(SSL_CTX* ctx, const std::string& cert, const std::string& key);

// LoadTlsIdentity into a scratch context first; only when that succeeds is ctx
// changed. A failed reload leaves ctx serving the previous certificate.
Status ReloadTlsIdentity(SSL_CTX* ctx, const std::string& cert, const std::string& key);

}  // namespace ag::mirror
