/* libxcrypt (Debian's libcrypt1): crypt_rn() verifies htpasswd-style password hashes
 * (bcrypt $2b$/$2y$/$2a$, SHA-256-crypt $5$, SHA-512-crypt $6$, yescrypt $y$). */
#include <crypt.h>
