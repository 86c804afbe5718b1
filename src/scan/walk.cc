#include "scan/walk.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace ag::scan {
namespace {

namespace fs = std::filesystem;

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

// Reads the file at `path` into *buf (reused). Returns false with *error set.
bool ReadInto(const std::string& path, uint64_t size_hint, std::string* buf, std::string* error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    *error = Errno("cannot open " + path);
    return false;
  }
  buf->resize(static_cast<size_t>(size_hint) + 1);
  size_t off = 0;
  for (;;) {
    if (off == buf->size()) buf->resize(buf->size() * 2 + 4096);
    ssize_t n = ::read(fd, buf->data() + off, buf->size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      *error = Errno("cannot read " + path);
      ::close(fd);
      return false;
    }
    if (n == 0) break;
    off += static_cast<size_t>(n);
  }
  ::close(fd);
  buf->resize(off);
  return true;
}

void ScanFile(const Scanner& scanner, const std::string& path, uint64_t size,
              const WalkOptions& options, std::string* buf, WalkResult* result) {
  if (scanner.SkipsPath(path)) {
    result->skipped.push_back({path, kSkipReasonPath});
    return;
  }
  if (size > options.max_blob_bytes) {
    result->skipped.push_back({path, "larger than " + std::to_string(options.max_blob_bytes) + " bytes"});
    return;
  }
  std::string error;
  if (!ReadInto(path, size, buf, &error)) {
    result->errors.push_back(std::move(error));
    return;
  }
  ++result->files;
  result->bytes += buf->size();
  Status s = scanner.ScanText(path, *buf, &result->findings, &result->skipped);
  if (!s.ok()) result->errors.push_back(path + ": " + s.ToString());
}

void ScanTree(const Scanner& scanner, const std::string& root, const WalkOptions& options,
              std::string* buf, WalkResult* result) {
  std::error_code ec;
  fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end;
  if (ec) {
    result->errors.push_back("cannot list " + root + ": " + ec.message());
    return;
  }
  for (; it != end; it.increment(ec)) {
    if (ec) {
      result->errors.push_back("cannot list under " + root + ": " + ec.message());
      return;
    }
    const fs::directory_entry& e = *it;
    std::string path = e.path().string();
    if (e.is_symlink(ec)) continue;  // never followed: no loops, no escapes
    if (e.is_directory(ec)) {
      if (e.path().filename() == ".git") {
        it.disable_recursion_pending();
      } else if (scanner.SkipsPath(path)) {
        result->skipped.push_back({path, kSkipReasonPath});
        it.disable_recursion_pending();
      }
      continue;
    }
    if (!e.is_regular_file(ec)) continue;
    uint64_t size = e.file_size(ec);
    if (ec) {
      result->errors.push_back("cannot stat " + path + ": " + ec.message());
      continue;
    }
    ScanFile(scanner, path, size, options, buf, result);
  }
}

}  // namespace

void ScanPaths(const Scanner& scanner, const std::vector<std::string>& paths,
               const WalkOptions& options, WalkResult* result) {
  std::string buf;
  for (const std::string& p : paths) {
    struct stat st;
    if (::stat(p.c_str(), &st) != 0) {
      result->errors.push_back(Errno("cannot stat " + p));
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      ScanTree(scanner, p, options, &buf, result);
    } else if (S_ISREG(st.st_mode)) {
      ScanFile(scanner, p, static_cast<uint64_t>(st.st_size), options, &buf, result);
    } else {
      result->skipped.push_back({p, "not a regular file"});
    }
  }
}

}  // namespace ag::scan
