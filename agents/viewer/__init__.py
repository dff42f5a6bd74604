"""The browser viewer: `kintsugi view OUT` serves pages over a store, read-only; `--export DIR` writes them as files.

- `agents.viewer.svg`: plots drawn as inline SVG (success with intervals, loss curves);
- `agents.viewer.layout`: the page shell, escaping and the small shared pieces of HTML;
- `agents.viewer.pages`: one function per page kind (runs, a run, two runs, a trajectory, a tree, adapters, learning);
- `agents.viewer.site`: page names to pages, the HTTP server and the static export.
"""
