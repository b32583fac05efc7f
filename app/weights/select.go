package weights

import (
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/duobox/duobox/app"
)

// Format is the weight format vLLM loads from a repository.
type Format string

// The formats a repository may hold; Mistral repos hold the first two at once.
const (
	FormatSafetensors Format = "safetensors" // Hugging Face shards: model-0000x-of-0000y.safetensors
	FormatMistral     Format = "mistral"     // consolidated*.safetensors (vLLM --load-format mistral)
	FormatPyTorch     Format = "pytorch"     // *.bin / *.pt when a repo has no safetensors
)

// LoadFormatMistral is the Target.LoadFormat that asks for consolidated*.safetensors.
const LoadFormatMistral = "mistral"

// Selection is what a pull or import takes from a repository.
type Selection struct {
	Format  Format
	Files   []RemoteFile // weights of Format, their index, config and tokenizer files
	Skipped []string     // paths left out (other formats, docs, subfolders)
}

// Bytes is the total size of the selected files.
func (s Selection) Bytes() int64 {
	var n int64
	for _, f := range s.Files {
		n += f.Size
	}
	return n
}

// Paths lists the selected files' paths.
func (s Selection) Paths() []string {
	out := make([]string, len(s.Files))
	for i, f := range s.Files {
		out[i] = f.Path
	}
	return out
}

// neverNeeded are formats vLLM does not load from a safetensors/pytorch repo.
var neverNeeded = map[string]bool{
	".gguf": true, ".onnx": true, ".onnx_data": true, ".h5": true, ".msgpack": true, ".ckpt": true,
	".tflite": true, ".ot": true, ".mlmodel": true, ".pb": true, ".nemo": true, ".npz": true,
}

// supportFiles are the extensions of config, tokenizer and chat-template files.
var supportFiles = map[string]bool{".json": true, ".txt": true, ".model": true, ".jinja": true, ".tiktoken": true, ".py": true}

// formatOf classifies a top-level weight file; "" for everything else.
func formatOf(name string) Format {
	ext := path.Ext(name)
	switch {
	case ext == ".safetensors" && strings.HasPrefix(name, "consolidated"):
		return FormatMistral
	case ext == ".safetensors":
		return FormatSafetensors
	case ext == ".bin" || ext == ".pt" || ext == ".pth":
		return FormatPyTorch
	}
	return ""
}

// indexFormat tells which format a weight index file belongs to.
func indexFormat(name string) Format {
	switch {
	case !strings.HasSuffix(name, ".index.json"):
		return ""
	case strings.HasPrefix(name, "consolidated") && strings.Contains(name, ".safetensors"):
		return FormatMistral
	case strings.Contains(name, ".safetensors"):
		return FormatSafetensors
	case strings.Contains(name, ".bin") || strings.Contains(name, ".pt"):
		return FormatPyTorch
	}
	return ""
}

// isSupportFile reports config, tokenizer, generation config and chat
// template files: params.json, tekken.json, tokenizer.model.v3 included.
func isSupportFile(name string) bool {
	return supportFiles[path.Ext(name)] || strings.HasPrefix(name, "tokenizer")
}

// Select picks the files vLLM needs from a repository's listing: the
// top-level weights of one format (Hugging Face shards by default,
// consolidated*.safetensors when loadFormat is "mistral"; *.bin only when
// there are no safetensors), that format's index, and the config, tokenizer
// and generation-config files. Subfolders (original/, metal/, onnx/) hold
// copies for other runtimes and are skipped, as vLLM skips them.
func Select(repo string, files []RemoteFile, loadFormat string) (Selection, error) {
	byFormat := map[Format][]RemoteFile{}
	indexes := map[Format][]RemoteFile{}
	var support []RemoteFile
	var sel Selection
	for _, f := range files {
		name := f.Path
		switch {
		case strings.Contains(name, "/") || strings.HasPrefix(name, "."):
			sel.Skipped = append(sel.Skipped, name)
		case indexFormat(name) != "":
			indexes[indexFormat(name)] = append(indexes[indexFormat(name)], f)
		case formatOf(name) != "":
			byFormat[formatOf(name)] = append(byFormat[formatOf(name)], f)
		case neverNeeded[path.Ext(name)] || !isSupportFile(name):
			sel.Skipped = append(sel.Skipped, name)
		default:
			support = append(support, f)
		}
	}
	switch {
	case loadFormat == LoadFormatMistral:
		if len(byFormat[FormatMistral]) == 0 {
			return Selection{}, app.BadInput("drop --load-format mistral from the model's vLLM arguments, or pick a repository in Mistral format",
				"%s has no consolidated*.safetensors, which vLLM's --load-format mistral loads", repo)
		}
		// Mistral-format checkpoints are served with --config-format mistral too,
		// which reads params.json (vLLM transformers_utils/config.py).
		if !slices.ContainsFunc(support, func(f RemoteFile) bool { return f.Path == "params.json" }) {
			return Selection{}, app.BadInput("drop --load-format/--config-format mistral from the model's vLLM arguments, or pick a repository in Mistral format",
				"%s has no params.json, which vLLM's --config-format mistral reads", repo)
		}
		sel.Format = FormatMistral
	case len(byFormat[FormatSafetensors]) > 0:
		sel.Format = FormatSafetensors
	case len(byFormat[FormatMistral]) > 0:
		sel.Format = FormatMistral
	case len(byFormat[FormatPyTorch]) > 0:
		sel.Format = FormatPyTorch
	default:
		return Selection{}, app.BadInput("pick a repository with *.safetensors weights at its top level (vLLM loads those)",
			"%s holds no weights vLLM can load", repo)
	}
	sel.Files = append(append(append(sel.Files, byFormat[sel.Format]...), indexes[sel.Format]...), support...)
	for format, fs := range byFormat {
		if format != sel.Format {
			for _, f := range fs {
				sel.Skipped = append(sel.Skipped, f.Path)
			}
		}
	}
	for format, fs := range indexes {
		if format != sel.Format {
			for _, f := range fs {
				sel.Skipped = append(sel.Skipped, f.Path)
			}
		}
	}
	sort.Slice(sel.Files, func(i, j int) bool { return sel.Files[i].Path < sel.Files[j].Path })
	sort.Strings(sel.Skipped)
	return sel, nil
}
