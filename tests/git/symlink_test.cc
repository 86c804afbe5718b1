#include "git/symlink.h"

#include <gtest/gtest.h>

#include <string>

#include "testing/shell.h"

namespace ag::git {
namespace {

using ag::testing::Quote;
using ag::testing::Sh;
using ag::testing::TempDir;

// One work tree with every case's links, committed and cloned bare; the
// resolver reads the bare clone, the kernel oracle reads the work tree.
class SymlinkTreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string script = R"sh(set -e
git init -q -b main work && cd work
echo readme > README.md
mkdir -p docs nest deep other p/q r s/t/u loop hops
echo guide > docs/guide.md
# The chain: each target stays inside lexically; passwd.md reads /etc/passwd.
ln -s .. docs/l0
for i in 1 2 3 4 5 6 7; do ln -s "l$((i-1))/.." "docs/l$i"; done
ln -s l7/etc/passwd docs/passwd.md
ln -s ../../../etc/passwd docs/direct
ln -s /etc/passwd docs/abs
ln -s ../README.md docs/a
ln -s a docs/b
ln -s b docs/c
ln -s guide.md docs/g
ln -s ../nothere/file.md docs/missing
ln -s nothere/../l7/etc/passwd docs/via_missing
ln -s ../../work/README.md docs/reenter
ln -s b loop/a
ln -s a loop/b
ln -s self loop/self
ln -s b/c nest/a
ln -s ../.. nest/b
ln -s ../other other/inner
echo x > other/file
ln -s ../other deep/sub
ln -s sub/file deep/x
ln -s ../../etc other/y
ln -s sub/y deep/z
ln -s ../.. p/q/dl
ln -s dl/../x p/q/phys
ln -s ../s/t/u r/dl2
ln -s dl2/../../.. r/back
ln -s dl2/../../../README.md r/back_file
ln -s README.md hops/h0
for i in $(seq 1 45); do ln -s "h$((i-1))" "hops/h$i"; done
mkdir nul && ln -s link nul/via && ln -s long nul/via_long
git add -A
# Targets no checkout makes: a NUL byte, longer than PATH_MAX.
oid=$(printf 'x\000y' | git hash-object -w --stdin)
git update-index --add --cacheinfo "120000,$oid,nul/link"
oid=$(for i in $(seq 2100); do printf 'x/'; done | git hash-object -w --stdin)
git update-index --add --cacheinfo "120000,$oid,nul/long"
git -c user.name=t -c user.email=t@example.com commit -qm tree
cd .. && git clone -q --bare work bare.git
)sh";
    auto r = Sh("cd " + Quote(tmp_.path()) + " && " + script);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto repo = OpenRepo(tmp_ / "bare.git");
    ASSERT_TRUE(repo.ok()) << repo.status().ToString();
    repo_ = std::move(repo).value();
    git_object* obj = nullptr;
    ASSERT_EQ(git_revparse_single(&obj, repo_.get(), "HEAD^{tree}"), 0);
    tree_.reset(reinterpret_cast<git_tree*>(obj));
  }

  // The target stored in the tree for the link at `path`.
  std::string TargetOf(const std::string& path) {
    git_tree_entry* e = nullptr;
    EXPECT_EQ(git_tree_entry_bypath(&e, tree_.get(), path.c_str()), 0) << path;
    if (!e) return "";
    EXPECT_EQ(git_tree_entry_filemode(e), GIT_FILEMODE_LINK) << path;
    git_blob* b = nullptr;
    EXPECT_EQ(git_blob_lookup(&b, repo_.get(), git_tree_entry_id(e)), 0);
    git_tree_entry_free(e);
    BlobPtr blob(b);
    return std::string(static_cast<const char*>(git_blob_rawcontent(b)),
                       static_cast<size_t>(git_blob_rawsize(b)));
  }

  // What the kernel makes of the checked-out link: ELOOP from stat(2), else
  // the path coreutils' `realpath -m` reaches (physical `..`, dangling links
  // followed) is outside the work tree, or realpath fails.
  bool KernelEscapes(const std::string& path) {
    std::string work = tmp_ / "work";
    auto st = Sh("stat -L -- " + Quote(work + "/" + path));
    if (st.output.find("Too many levels of symbolic links") != std::string::npos) return true;
    auto r = Sh("realpath -m -- " + Quote(work + "/" + path));
    if (r.exit_code != 0) return true;
    std::string got = r.output.substr(0, r.output.find('\n'));
    auto top = Sh("realpath -- " + Quote(work));
    std::string root = top.output.substr(0, top.output.find('\n'));
    return !(got == root || got.rfind(root + "/", 0) == 0);
  }

  TempDir tmp_{"agentgate-symlink"};
  RepoPtr repo_;
  TreePtr tree_;
};

TEST_F(SymlinkTreeTest, Table) {
  struct Case {
    const char* link;
    bool escapes;  // through the tree
    bool lexical;  // with no tree (today's check::SymlinkEscapes)
    bool kernel;   // compare with the kernel on the checkout
  } cases[] = {
      {"docs/passwd.md", true, false, true},  // l0..l7 chain to /etc/passwd
      {"docs/l7", true, false, true},         // the chain's last link alone
      {"docs/l0", false, false, true},        // `..` from docs: the root, inside
      {"docs/l1", true, false, true},         // l0/.. : the root's parent
      {"docs/direct", true, true, true},      // ../../../etc/passwd
      {"docs/abs", true, true, true},         // absolute
      {"docs/a", false, false, true},         // ../README.md
      {"docs/c", false, false, true},         // c -> b -> a -> ../README.md
      {"docs/g", false, false, true},         // sibling file
      {"docs/missing", false, false, true},   // missing file inside
      {"loop/a", true, false, true},          // a -> b -> a: ELOOP, fail closed
      {"loop/self", true, false, true},       // self -> self
      {"nest/a", true, false, true},          // a -> b/c, b -> ../..
      {"deep/x", false, false, true},         // through a folder link, inside
      {"deep/z", true, false, true},          // deep/sub -> ../other, other/y -> ../../etc
      {"other/inner", false, false, true},    // a link to its own folder
      {"p/q/phys", true, false, true},        // dl -> ../.. (root), then physical `..`
      {"r/back", false, true, true},          // dl2 -> s/t/u, three `..` land on the root
      {"r/back_file", false, true, true},     // ... and a file there
      {"hops/h39", false, false, true},       // 40 links: the kernel's limit
      {"hops/h40", true, false, true},        // 41 links: ELOOP
      {"nul/via", true, false, false},        // -> a target with a NUL byte
      {"nul/via_long", true, false, false},   // -> a 4200-byte target
      // Leaves the tree and comes back by the folder's name: the kernel gets
      // inside here, but the mirror's folder is named otherwise: escapes.
      {"docs/reenter", true, true, false},
      // A missing folder then `..`: the kernel stops at ENOENT, but the folder
      // may exist by the time it is read: links after it still count.
      {"docs/via_missing", true, false, false},
  };
  for (const Case& c : cases) {
    std::string target = TargetOf(c.link);
    auto got = SymlinkEscapesTree(repo_.get(), tree_.get(), c.link, target);
    ASSERT_TRUE(got.ok()) << c.link << ": " << got.status().ToString();
    EXPECT_EQ(*got, c.escapes) << "tree: " << c.link << " -> " << target;
    auto lexical = SymlinkEscapesTree(nullptr, nullptr, c.link, target);
    ASSERT_TRUE(lexical.ok());
    EXPECT_EQ(*lexical, c.lexical) << "lexical: " << c.link << " -> " << target;
    if (c.kernel) {
      EXPECT_EQ(KernelEscapes(c.link), c.escapes) << "kernel: " << c.link;
    }
  }
}

TEST_F(SymlinkTreeTest, HopLimitIsAnOption) {
  std::string target = TargetOf("hops/h45");  // 46 links in all
  EXPECT_TRUE(*SymlinkEscapesTree(repo_.get(), tree_.get(), "hops/h45", target));
  EXPECT_FALSE(*SymlinkEscapesTree(repo_.get(), tree_.get(), "hops/h45", target, 46));
  EXPECT_TRUE(*SymlinkEscapesTree(repo_.get(), tree_.get(), "hops/h45", target, 45));
  EXPECT_TRUE(*SymlinkEscapesTree(repo_.get(), tree_.get(), "docs/a", "../README.md", 0));
}

TEST_F(SymlinkTreeTest, UnfollowableTargetsEscape) {
  EXPECT_TRUE(*SymlinkEscapesTree(repo_.get(), tree_.get(), "docs/n",
                                  std::string_view("a\0/../../..", 11)));
  EXPECT_TRUE(*SymlinkEscapesTree(repo_.get(), tree_.get(), "docs/n", std::string(5000, 'a')));
  EXPECT_FALSE(*SymlinkEscapesTree(repo_.get(), tree_.get(), "docs/n", ""));
}

// Without links the answer is today's lexical one (tests/hook/check_test.cc).
TEST(SymlinkLexicalTest, MatchesTheLexicalCheck) {
  struct Case {
    const char* link;
    const char* target;
    bool escapes;
  } cases[] = {
      {"docs/alias.md", "guide.md", false},
      {"docs/alias.md", "../README.md", false},
      {"docs/alias.md", "../../etc/passwd", true},
      {"a", "/etc/passwd", true},
      {"a/b/c", "../../x", false},
      {"a/b/c", "../../../x", true},
      {"a/b/c", "./../.././../x", true},
      {"a/b/c", "d/../../../x", false},
      {"link", "..", true},
      {"link", "", false},
  };
  for (const Case& c : cases) {
    auto got = SymlinkEscapesTree(nullptr, nullptr, c.link, c.target);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(*got, c.escapes) << c.link << " -> " << c.target;
  }
}

}  // namespace
}  // namespace ag::git
