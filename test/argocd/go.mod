// The Lua interpreter Argo CD embeds (gopher-lua), to run the health checks of deploy/argocd/ in tests.
module neon-operator/test/argocd

go 1.26.0

require github.com/yuin/gopher-lua v1.1.2
