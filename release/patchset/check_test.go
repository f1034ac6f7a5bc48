package patchset

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckCountsChangedLines(t *testing.T) {
	_, patchesDir := libFixture(t)
	stats, err := Check(patchesDir, Budget)
	if err != nil {
		t.Fatal(err)
	}
	// 0001 changes two lines of a.go; 0002 one of a.go, one of b.go, and adds c.go's line.
	want := []PatchStats{
		{Module: libPath, File: libPath + "/0001-Mark-lines-two-and-fifteen.patch", Subject: "Mark lines two and fifteen", Added: 2, Removed: 2},
		{Module: libPath, File: libPath + "/0002-Add-c.go-and-mark-b.go.patch", Subject: "Add c.go and mark b.go", Added: 3, Removed: 2},
	}
	if len(stats.Patches) != len(want) {
		t.Fatalf("stats = %+v", stats)
	}
	for i := range want {
		if stats.Patches[i] != want[i] {
			t.Errorf("patch %d: %+v, want %+v", i, stats.Patches[i], want[i])
		}
	}
	if stats.Added != 5 || stats.Removed != 4 || stats.Changed() != 9 {
		t.Errorf("total +%d -%d = %d, want +5 -4 = 9", stats.Added, stats.Removed, stats.Changed())
	}
	out := strings.Split(strings.TrimSuffix(stats.String(), "\n"), "\n")
	if len(out) != 3 || !strings.Contains(out[0], want[0].File) || !strings.Contains(out[0], "    4  +2 -2") ||
		!strings.Contains(out[1], want[1].File) || !strings.Contains(out[2], "2 patches change 9 lines") {
		t.Errorf("stats print as\n%s", stats)
	}

	if _, err := Check(patchesDir, 9); err != nil {
		t.Errorf("a series exactly at its budget: %v", err)
	}
}

func TestCheckFailures(t *testing.T) {
	const header = "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\nFrom: Ada Author <ada@example.com>\nDate: Mon, 4 Mar 2024 05:06:07 +0200\nSubject: [PATCH] Change x\n\n"
	const diff = "---\n x | 2 +-\n\ndiff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n keep\n-old\n+new\n"
	tests := []struct {
		name    string
		patches map[string]string
		limit   int
		want    []string
	}{{
		name:    "over the budget",
		patches: map[string]string{"0001-x.patch": header + "Why.\n" + diff},
		limit:   1,
		want:    []string{"change 2 lines, over the budget of 1"},
	}, {
		name:    "no explanation",
		patches: map[string]string{"0001-x.patch": header + diff},
		limit:   Budget,
		want:    []string{"example.com/lib/0001-x.patch", "does not say why"},
	}, {
		name:    "only trailers",
		patches: map[string]string{"0001-x.patch": header + "Signed-off-by: Ada Author <ada@example.com>\n\n" + diff},
		limit:   Budget,
		want:    []string{"0001-x.patch", "does not say why"},
	}, {
		name: "every problem at once",
		patches: map[string]string{
			"0001-x.patch": header + diff,
			"0002-y.patch": header + "Why.\n" + diff,
		},
		limit: 3,
		want:  []string{"0001-x.patch: the commit message does not say why", "4 lines, over the budget of 3"},
	}, {
		name:    "a hunk shorter than its header",
		patches: map[string]string{"0001-x.patch": header + "Why.\n" + strings.Replace(diff, "@@ -1,2 +1,2 @@", "@@ -1,3 +1,3 @@", 1)},
		limit:   Budget,
		want:    []string{"0001-x.patch", `hunk "@@ -1,3 +1,3 @@" of x is cut short`},
	}, {
		name:    "not a patch",
		patches: map[string]string{"0001-x.patch": "just some notes\n"},
		limit:   Budget,
		want:    []string{"0001-x.patch", "not a git format-patch file"},
	}, {
		name:    "no diff",
		patches: map[string]string{"0001-x.patch": header + "Why.\n"},
		limit:   Budget,
		want:    []string{"0001-x.patch", "has no diff"},
	}, {
		name:  "a budget of nothing",
		limit: 0,
		want:  []string{"budget must be positive"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, filepath.Join(dir, libPath), tt.patches)
			_, err := Check(dir, tt.limit)
			if err == nil {
				t.Fatal("Check passed")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestCheckMissingPatchesDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "patches")
	if _, err := Check(dir, Budget); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("a missing patches dir: %v", err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	stats, err := Check(dir, Budget)
	if err != nil || len(stats.Patches) != 0 {
		t.Errorf("an empty patches dir: %+v, %v", stats, err)
	}
}

// Hunks are read by their line counts: lines that look like mail or diff syntax inside a
// hunk are content, and the signature after the last hunk is not.
func TestParsePatchReadsHunksByCount(t *testing.T) {
	text := "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n" +
		"From: Ada Author <ada@example.com>\n" +
		"Subject: [PATCH 2/7] =?UTF-8?q?Tr=C3=A4ger:=20a=20subject=20that?=\n" +
		" =?UTF-8?q?=20is=20folded?=\n" +
		"\n" +
		"First paragraph.\n\nSecond paragraph.\n\nSigned-off-by: Ada Author <ada@example.com>\n" +
		"---\n x | 3 ++-\n 1 file changed\n\n" +
		"diff --git a/x b/x\nindex 1111111..2222222 100644\n--- a/x\n+++ b/x\n" +
		"@@ -1,3 +1,3 @@ func\n keep\n-- \n+++ added\n keep\n\\ No newline at end of file\n" +
		"diff --git a/old.go b/new.go\nsimilarity index 100%\nrename from old.go\nrename to new.go\n" +
		"diff --git a/\"sp ace\" b/\"sp ace\"\n--- \"a/sp ace\"\n+++ /dev/null\n@@ -1 +0,0 @@\n-gone\n" +
		"-- \n2.39.5\n\n"
	p, err := parsePatch([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "Träger: a subject that is folded" {
		t.Errorf("subject %q", p.Subject)
	}
	if p.Body != "First paragraph.\n\nSecond paragraph." {
		t.Errorf("body %q", p.Body)
	}
	if len(p.Files) != 3 {
		t.Fatalf("files %+v", p.Files)
	}
	if f := p.Files[0]; f.OldName != "x" || f.NewName != "x" || len(f.Hunks) != 1 || f.Hunks[0].Added != 1 || f.Hunks[0].Removed != 1 || f.Hunks[0].OldStart != 1 {
		t.Errorf("x: %+v", f)
	}
	if f := p.Files[1]; f.OldName != "old.go" || f.NewName != "new.go" || len(f.Hunks) != 0 {
		t.Errorf("rename: %+v", f)
	}
	if f := p.Files[2]; f.OldName != "sp ace" || f.NewName != "" || len(f.Hunks) != 1 || f.Hunks[0].Removed != 1 {
		t.Errorf("deletion: %+v", f)
	}
	if added, removed := p.changed(); added != 1 || removed != 2 {
		t.Errorf("changed +%d -%d, want +1 -2", added, removed)
	}
}
