// Test support for TLS and JWT: keys, certificates and tokens made at test time by tools from
// outside the code under test — the `openssl` command line and Python's PyJWT (Debian
// python3-jwt) — in a fresh temporary directory. No private key is ever committed.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>

namespace streamstats_test {

// Runs `cmd` with /bin/sh; returns its stdout (trailing newline removed). Throws on a non-zero exit.
inline std::string run_capture(const std::string& cmd) {
  std::FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) {
    throw std::runtime_error("popen failed: " + cmd);
  }
  std::string out;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
    out.append(buf, n);
  }
  const int status = ::pclose(p);
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error("command failed (" + std::to_string(status) + "): " + cmd);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) {
    out.pop_back();
  }
  return out;
}

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_text(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

// Single-quoted for /bin/sh.
inline std::string sh_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') {
      q += "'\\''";
    } else {
      q += c;
    }
  }
  return q + "'";
}

// A temporary directory removed at the end of the test, with an `openssl`-made PKI in it.
class pki_dir {
 public:
  pki_dir() {
    char tmpl[] = "/tmp/streamstats_tls_XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      throw std::runtime_error("mkdtemp failed");
    }
    dir_ = tmpl;
  }
  ~pki_dir() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  pki_dir(const pki_dir&) = delete;
  pki_dir& operator=(const pki_dir&) = delete;

  [[nodiscard]] const std::filesystem::path& dir() const noexcept { return dir_; }
  [[nodiscard]] std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // A self-signed CA (P-256): <name>.pem, <name>.key.
  void make_ca(const std::string& name) const {
    run_capture("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " +
                sh_quote(path(name + ".key")) + " -out " + sh_quote(path(name + ".pem")) +
                " -days 2 -subj /CN=" + name + " 2>/dev/null");
  }

  // A leaf signed by CA `ca`, valid for `days` (negative: already expired), for 127.0.0.1 and
  // localhost: <name>.pem, <name>.key. `rsa`: an RSA-2048 key instead of P-256.
  void make_leaf(const std::string& name, const std::string& ca, int days = 1, bool rsa = false) const {
    const std::string newkey = rsa ? "-newkey rsa:2048" : "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1";
    run_capture("openssl req " + newkey + " -nodes -keyout " + sh_quote(path(name + ".key")) + " -out " +
                sh_quote(path(name + ".csr")) + " -subj /CN=" + name + " 2>/dev/null");
    write_text(dir_ / (name + ".ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    run_capture("openssl x509 -req -in " + sh_quote(path(name + ".csr")) + " -CA " +
                sh_quote(path(ca + ".pem")) + " -CAkey " + sh_quote(path(ca + ".key")) + " -set_serial " +
                std::to_string(serial_++) + " -days " + std::to_string(days) + " -extfile " +
                sh_quote(path(name + ".ext")) + " -out " + sh_quote(path(name + ".pem")) + " 2>/dev/null");
  }

  // An RSA or EC key pair for JWT: <name>.key (private, PKCS#8) and <name>.pub (public, SPKI).
  void make_keypair(const std::string& name, bool rsa = true) const {
    run_capture(std::string("openssl genpkey ") +
                (rsa ? "-algorithm RSA -pkeyopt rsa_keygen_bits:2048"
                     : "-algorithm EC -pkeyopt ec_paramgen_curve:P-256") +
                " -out " + sh_quote(path(name + ".key")) + " 2>/dev/null");
    run_capture("openssl pkey -in " + sh_quote(path(name + ".key")) + " -pubout -out " +
                sh_quote(path(name + ".pub")) + " 2>/dev/null");
  }

 private:
  std::filesystem::path dir_;
  mutable int serial_ = 1000;
};

// A token made by PyJWT: `claims_py` is a Python dict literal (`now` is bound to int(time.time()));
// `key_py` a Python expression for the key (a str, or open(...).read()); `alg` PyJWT's name.
inline std::string pyjwt_token(const std::string& claims_py, const std::string& key_py,
                               const std::string& alg, const std::string& headers_py = "None") {
  const std::string script = "import jwt, time\nnow = int(time.time())\nprint(jwt.encode(" + claims_py +
                             ", " + key_py + ", algorithm=" + sh_quote(alg) + ", headers=" + headers_py +
                             "))\n";
  return run_capture("/usr/bin/python3 -c " + sh_quote(script));
}

}  // namespace streamstats_test
