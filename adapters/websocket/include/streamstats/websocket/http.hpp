// streamstats::websocket http — what the server answers to plain HTTP GETs on its port: static
// files from the document root (here), and /metrics, /healthz, /readyz (metrics.hpp).
// SPDX-License-Identifier: MIT
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace streamstats::websocket::detail {

struct http_reply {
  int status = 404;
  std::string body = "not found\n";
  const char* content_type = "text/plain; charset=utf-8";
  // Headers after Content-Type.
  std::vector<std::pair<const char*, const char*>> headers;
};

[[nodiscard]] inline const char* mime_type(std::string_view path) noexcept {
  static const std::pair<std::string_view, const char*> types[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
      {".wasm", "application/wasm"},
  };
  for (const auto& [ext, mime] : types) {
    if (path.size() >= ext.size() && path.substr(path.size() - ext.size()) == ext) {
      return mime;
    }
  }
  return "application/octet-stream";
}

// Reads `file` if it is a regular file inside `root` (both already canonical: no symlink, no "..").
// Opened with O_NONBLOCK (a FIFO would otherwise block the io thread until a writer appears) and
// O_NOFOLLOW (a symlink swapped in after the check is refused), then checked again with fstat,
// since the name may have changed between the check and the open.
[[nodiscard]] inline bool read_regular_file(const std::filesystem::path& file, std::string& out) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    return false;
  }
  struct stat st {};
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  if (ok) {
    out.clear();
    out.reserve(static_cast<std::size_t>(st.st_size));
    char buf[16384];
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n > 0) {
        out.append(buf, static_cast<std::size_t>(n));
      } else if (n == 0) {
        break;
      } else if (errno != EINTR) {
        ok = false;
        break;
      }
    }
  }
  ::close(fd);
  return ok;
}

// The static file for request path `path` (without query) under document root `root`: regular
// files only, resolved (symlinks followed) and still inside the root; a directory serves its
// index.html; everything else is 404, and a path with "..", '\' or NUL is 400.
[[nodiscard]] inline http_reply static_file(const std::string& root, std::string_view path) {
  namespace fs = std::filesystem;
  http_reply r;
  if (root.empty()) {
    return r;
  }
  if (path.empty() || path.front() != '/' || path.find("..") != std::string_view::npos ||
      path.find('\\') != std::string_view::npos || path.find('\0') != std::string_view::npos) {
    r.status = 400;
    r.body = "bad path\n";
    return r;
  }
  std::error_code ec;
  const fs::path base = fs::canonical(root, ec);
  if (ec) {
    return r;
  }
  std::string rel(path.substr(1));
  if (rel.empty() || rel.back() == '/') {
    rel += "index.html";
  }
  fs::path real = fs::canonical(base / rel, ec);
  auto inside = [&](const fs::path& p) {
    const std::string& b = base.native();
    const std::string& s = p.native();
    return s.size() > b.size() && s.compare(0, b.size(), b) == 0 && (b.back() == '/' || s[b.size()] == '/');
  };
  if (ec || !inside(real)) {
    return r;
  }
  if (fs::is_directory(real, ec)) {
    real = fs::canonical(real / "index.html", ec);
    if (ec || !inside(real)) {
      return r;
    }
  }
  if (!fs::is_regular_file(real, ec) || !read_regular_file(real, r.body)) {
    r.body = "not found\n";
    return r;
  }
  r.status = 200;
  r.content_type = mime_type(real.native());
  return r;
}

// What the server's HTTP side needs to answer a GET.
struct http_context {
  const std::string* document_root = nullptr;
  bool ready = false;                    // listening and not stopping (/readyz)
  std::function<std::string()> metrics;  // the /metrics body, built on demand
};

// The answer to a plain HTTP GET of `path` (without query): /metrics (Prometheus text), /healthz,
// /readyz, 426 on /ws (the WebSocket endpoint), else a static file under the document root.
[[nodiscard]] inline http_reply route_http(std::string_view path, const http_context& ctx) {
  http_reply r;
  auto answer = [&](int status, const char* type, std::string body) {
    r.status = status;
    r.content_type = type;
    r.body = std::move(body);
    r.headers.emplace_back("Cache-Control", "no-store");
  };
  if (path == "/metrics") {
    answer(200, "text/plain; version=0.0.4; charset=utf-8", ctx.metrics ? ctx.metrics() : std::string());
  } else if (path == "/healthz") {
    answer(200, "text/plain; charset=utf-8", "ok\n");
  } else if (path == "/readyz") {
    // Listening and not stopping. (State restore and a broker join these checks when they exist.)
    answer(ctx.ready ? 200 : 503, "text/plain; charset=utf-8",
           ctx.ready ? "ready\n" : "not ready: not listening\n");
  } else if (path == "/ws") {
    r.status = 426;
    r.content_type = "text/plain; charset=utf-8";
    r.body = "WebSocket endpoint: connect with ws://\n";
    r.headers.emplace_back("Sec-WebSocket-Version", "13");
  } else {
    r = static_file(ctx.document_root != nullptr ? *ctx.document_root : std::string(), path);
    if (r.status == 200) {
      r.headers.emplace_back("Cache-Control", "no-cache");
    }
  }
  return r;
}

}  // namespace streamstats::websocket::detail
