package bundle

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestTagLister_UnreachableRegistryFallsBackToTheRecordedTags(t *testing.T) {
	data := t.TempDir()
	repo := "127.0.0.1:9/gitlab-org/model-gateway" // nothing listens on port 9
	list := TagLister(data)
	if _, err := list(context.Background(), repo); err == nil {
		t.Fatal("an unreachable registry with nothing recorded listed tags")
	}
	if err := os.MkdirAll(OfflineDir(data), 0o700); err != nil {
		t.Fatal(err)
	}
	m := Manifest{Images: []Image{{Role: RoleGateway, Repository: repo}}}
	if err := os.WriteFile(filepath.Join(OfflineDir(data), tagsFileName(m)), []byte("self-hosted-v18.5.0-ee\nself-hosted-v18.5.1-ee\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tags, err := list(context.Background(), repo)
	if err != nil || !reflect.DeepEqual(tags, []string{"self-hosted-v18.5.0-ee", "self-hosted-v18.5.1-ee"}) {
		t.Fatalf("tags %v %v", tags, err)
	}
}
