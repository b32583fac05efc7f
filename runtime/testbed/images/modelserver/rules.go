package main

// The argument and request combinations the real vLLM refuses, with its
// messages. Each rule cites the vLLM source it copies.

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// knownToolParsers is a subset of vLLM's registry
// (vllm/entrypoints/openai/tool_parsers/__init__.py, _TOOL_PARSERS_TO_REGISTER).
var knownToolParsers = []string{"deepseek_v3", "granite", "hermes", "internlm", "jamba", "llama3_json", "llama4_json",
	"llama4_pythonic", "mistral", "openai", "phi4_mini_json", "pythonic", "qwen3_coder", "qwen3_xml", "xlam"}

// startRefusal returns the error vLLM prints (and exits 1 on) for the
// arguments, or "". env is the container's environment (getenv).
func startRefusal(flags map[string]string, model string, getenv func(string) string) string {
	_, autoTools := flags["enable-auto-tool-choice"]
	parser := flags["tool-call-parser"]
	// vllm/entrypoints/openai/cli_args.py, validate_parsed_serve_args:
	//   raise TypeError("Error: --enable-auto-tool-choice requires --tool-call-parser")
	if autoTools && parser == "" {
		return "TypeError: Error: --enable-auto-tool-choice requires --tool-call-parser"
	}
	// vllm/entrypoints/openai/tool_parsers/abstract_tool_parser.py, ToolParserManager.get_tool_parser:
	//   raise KeyError(f"invalid tool call parser: {name} (chose from {{ {','.join(...)} }})")
	if parser != "" && !contains(knownToolParsers, parser) {
		return fmt.Sprintf("KeyError: 'invalid tool call parser: %s (chose from { %s })'", parser, strings.Join(knownToolParsers, ","))
	}
	if msg := deviceRefusal(flags, getenv); msg != "" {
		return msg
	}
	return weightsRefusal(flags, model, getenv)
}

// deviceRefusal: the stand-in plays the CUDA image by default only when
// DUOBOX_FAKE_DEVICE=cuda; otherwise it plays vLLM's CPU image.
//   - CUDA image without a GPU: vLLM cannot pick a platform
//     (vllm/config/device.py, DeviceConfig: "Failed to infer device type").
//   - CPU image given a GPU: the real CPU build ignores the GPU and runs on the
//     CPU; DuoBox asking for that is its mistake, so the stand-in refuses
//     (stricter than the real one, on purpose, and says so).
func deviceRefusal(flags map[string]string, getenv func(string) string) string {
	gpu := getenv("NVIDIA_VISIBLE_DEVICES")
	hasGPU := gpu != "" && gpu != "void" && gpu != "none"
	if getenv("DUOBOX_FAKE_DEVICE") == "cuda" {
		if !hasGPU {
			return "RuntimeError: Failed to infer device type, please set the environment variable `VLLM_LOGGING_LEVEL=DEBUG` to turn on verbose logging to help debug the issue."
		}
		return ""
	}
	if hasGPU {
		return "DuoBox stand-in: this is vLLM's CPU image (public.ecr.aws/q9t5s3a7/vllm-cpu-release-repo); it was given GPUs (" + gpu +
			") it cannot use. The real CPU build ignores them and runs on the CPU."
	}
	return ""
}

// weightsRefusal checks the files of a local snapshot against the load and
// config formats. It checks only when the weights are already on disk (a
// folder given as --model, or a snapshot in the hub cache); a real server
// would otherwise download.
func weightsRefusal(flags map[string]string, model string, getenv func(string) string) string {
	dir := snapshotDir(model, getenv)
	if dir == "" {
		return ""
	}
	// vllm/model_executor/model_loader/default_loader.py, _prepare_weights:
	// load_format "mistral" uses allow_patterns ["consolidated*.safetensors"],
	// and no match ends in
	//   raise RuntimeError(f"Cannot find any model weights with `{model_name_or_path}`")
	if flags["load-format"] == "mistral" {
		if m, _ := filepath.Glob(filepath.Join(dir, "consolidated*.safetensors")); len(m) == 0 {
			return fmt.Sprintf("RuntimeError: Cannot find any model weights with `%s`", model)
		}
	}
	// vllm/transformers_utils/config.py: config_format "mistral" reads params.json
	// and fails with "Failed to load mistral 'params.json' config for model …".
	if flags["config-format"] == "mistral" {
		if _, err := os.Stat(filepath.Join(dir, "params.json")); err != nil {
			return fmt.Sprintf("ValueError: Failed to load mistral 'params.json' config for model %s. Please check if the model is a mistral-format model and if the config file exists.", model)
		}
	}
	return ""
}

// snapshotDir is the folder holding the model's files: --model itself when it
// is a folder, else the newest snapshot of the repo in the hub cache
// ($HF_HUB_CACHE, $HF_HOME/hub or /root/.cache/huggingface/hub); "" if none.
func snapshotDir(model string, getenv func(string) string) string {
	if st, err := os.Stat(model); err == nil && st.IsDir() {
		return model
	}
	hub := getenv("HF_HUB_CACHE")
	if hub == "" && getenv("HF_HOME") != "" {
		hub = filepath.Join(getenv("HF_HOME"), "hub")
	}
	if hub == "" {
		hub = "/root/.cache/huggingface/hub"
	}
	snaps, _ := filepath.Glob(filepath.Join(hub, "models--"+strings.ReplaceAll(model, "/", "--"), "snapshots", "*"))
	if len(snaps) == 0 {
		return ""
	}
	sort.Strings(snaps)
	return snaps[len(snaps)-1]
}

// toolSupport is what the server was started with for tool calls.
type toolSupport struct {
	autoTools        bool // --enable-auto-tool-choice with a --tool-call-parser
	mistralTokenizer bool // --tokenizer-mode mistral
	harmony          bool // gpt-oss (hf_config.model_type == "gpt_oss")
}

func toolSupportOf(flags map[string]string, model string) toolSupport {
	_, auto := flags["enable-auto-tool-choice"]
	return toolSupport{autoTools: auto && flags["tool-call-parser"] != "", mistralTokenizer: flags["tokenizer-mode"] == "mistral",
		harmony: strings.Contains(strings.ToLower(model), "gpt-oss")}
}

// toolChoiceRefusal is the 400 message for a chat request, or "".
// vllm/entrypoints/openai/protocol.py, ChatCompletionRequest: tools without
// tool_choice default to "auto". vllm/entrypoints/openai/serving_chat.py:
//
//	if (request.tool_choice == "auto" and
//	        not (self.enable_auto_tools and tool_parser is not None)
//	        and not isinstance(tokenizer, MistralTokenizer)
//	        and not self.use_harmony):
//	    return self.create_error_response(
//	        "\"auto\" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set")
func toolChoiceRefusal(s toolSupport, tools []any, toolChoice any) string {
	choice := toolChoice
	if choice == nil && len(tools) > 0 {
		choice = "auto"
	}
	if choice == "auto" && !s.autoTools && !s.mistralTokenizer && !s.harmony {
		return `"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set`
	}
	return ""
}

// errorBody is vLLM's ErrorResponse (vllm/entrypoints/openai/protocol.py:
// ErrorResponse{error: ErrorInfo{message, type, param, code}}), as
// create_error_response fills it for a bad request.
func errorBody(message string, code int) map[string]any {
	return map[string]any{"error": map[string]any{"message": message, "type": "BadRequestError", "param": nil, "code": code}}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
