// AssertNoLeak(paths, needles): the secret-leak search of issue 7, reusable by
// any test. Reads every file under `paths` (files, or folders walked
// recursively, symlinks not followed) as bytes and looks for each needle, as
// is and lower-case hex encoded. A hit is reported with the file, the byte
// offset and the needle masked (its first 4 characters), never the needle
// itself, so a failing test does not print the secret either.
//
// Usage (in a TEST body):
//   AssertNoLeak({dir_, log_file}, {kFakeAwsKey, kAgentToken});
//   EXPECT_TRUE(NoLeak({...}, {...}));   // when the test should go on
//
// Thread-safety: reads files only; safe from any thread.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace ag::testing {

inline std::string LeakHex(const std::string& s) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

// Success, or a failure naming every hit (file, offset, masked needle). An
// unreadable or missing path is a failure too: a search that did not look
// must not pass.
inline ::testing::AssertionResult NoLeak(const std::vector<std::string>& paths,
                                         const std::vector<std::string>& needles) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  std::string problems;
  for (const std::string& p : paths) {
    std::error_code ec;
    fs::file_status st = fs::symlink_status(p, ec);
    if (ec || !fs::exists(st)) {
      problems += "missing path " + p + "\n";
      continue;
    }
    if (fs::is_directory(st)) {
      for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::end(it);
           it.increment(ec)) {
        if (it->is_regular_file(ec)) files.push_back(it->path());
      }
      if (ec) problems += "cannot walk " + p + ": " + ec.message() + "\n";
    } else {
      files.push_back(p);
    }
  }
  size_t bytes = 0;
  for (const fs::path& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) {
      problems += "cannot read " + f.string() + "\n";
      continue;
    }
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    bytes += data.size();
    for (const std::string& needle : needles) {
      if (needle.size() < 8) {
        problems += "needle too short to search for safely (" +
                    std::to_string(needle.size()) + " bytes)\n";
        continue;
      }
      for (const std::string& form : {needle, LeakHex(needle)}) {
        size_t at = data.find(form);
        if (at != std::string::npos) {
          problems += "LEAK: " + needle.substr(0, 4) + "**** (" +
                      (form == needle ? "raw" : "hex") + ") in " + f.string() + " at byte " +
                      std::to_string(at) + "\n";
        }
      }
    }
  }
  if (files.empty()) problems += "no files to search\n";
  if (!problems.empty()) return ::testing::AssertionFailure() << problems;
  return ::testing::AssertionSuccess() << files.size() << " files, " << bytes << " bytes clean";
}

// Fails the current test (fatally) on any hit.
inline void AssertNoLeak(const std::vector<std::string>& paths,
                         const std::vector<std::string>& needles) {
  ASSERT_TRUE(NoLeak(paths, needles));
}

}  // namespace ag::testing
