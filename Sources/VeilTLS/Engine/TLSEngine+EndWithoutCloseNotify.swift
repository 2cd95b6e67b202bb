internal import COpenSSL

extension TLSEngine {
    /// Veil ends its side of this session with a bare FIN, not close_notify (the end it passes on
    /// was not authenticated): nothing is written, but OpenSSL counts the write side as shut down,
    /// so that freeing the SSL does not mark the session "bad" (`ssl_clear_bad_session` would make
    /// a cached upstream ticket unresumable although this session did nothing wrong). Reading
    /// goes on: the peer may still send.
    public func endWithoutCloseNotify() {
        SSL_set_shutdown(ssl, SSL_get_shutdown(ssl) | SSL_SENT_SHUTDOWN)
    }
}
