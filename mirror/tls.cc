#include "mirror/tls.h"

#include <openssl/err.h>

#include <memory>

namespace ag::mirror {
namespace {

// The last OpenSSL error queued on this thread, as text (the queue cleared).
std::string OpenSslError() {
  unsigned long code = ERR_get_error();
  unsigned long next;
  while ((next = ERR_get_error()) != 0) code = next;
  if (code == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return buf;
}

}  // namespace

const char kTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

Status ConfigureTls(SSL_CTX* ctx) {
  ERR_clear_error();
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) {
    return Status::Internal("tls settings: " + OpenSslError());
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  return Status::Ok();
}

Status LoadTlsIdentity(SSL_CTX* ctx, const std::string& cert, const std::string& key) {
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) {
    return Status::InvalidArgument("tls_cert " + cert + ": " + OpenSslError());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    return Status::InvalidArgument("tls_key " + key + ": " + OpenSslError());
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return Status::InvalidArgument("tls_key " + key + " does not match tls_cert " + cert);
  }
  return Status::Ok();
}

Status ReloadTlsIdentity(SSL_CTX* ctx, const std::string& cert, const std::string& key) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> scratch(SSL_CTX_new(TLS_server_method()),
                                                             SSL_CTX_free);
  if (!scratch) return Status::Internal("tls reload: " + OpenSslError());
  AG_RETURN_IF_ERROR(LoadTlsIdentity(scratch.get(), cert, key));
  // What the scratch context loaded, not a second read of the files (they
  // may change in between): certificate, key and chain set at once, so the
  // live context never holds a certificate without its key.
  X509* leaf = SSL_CTX_get0_certificate(scratch.get());
  EVP_PKEY* pkey = SSL_CTX_get0_privatekey(scratch.get());
  STACK_OF(X509)* chain = nullptr;
  ERR_clear_error();
  if (!leaf || !pkey || SSL_CTX_get0_chain_certs(scratch.get(), &chain) != 1 ||
      SSL_CTX_use_cert_and_key(ctx, leaf, pkey, chain, /*override=*/1) != 1) {
    return Status::Internal("tls reload: " + OpenSslError());
  }
  return Status::Ok();
}

}  // namespace ag::mirror
