// Package jsontemplate is Go's text/template (Go 1.26.8, BSD licence, the
// Go Authors; exec.go, funcs.go, helper.go, option.go, template.go copied
// unchanged but for the lines marked "wirebot:"), parsing with the
// standard text/template/parse, for templates over decoded JSON.
//
// The one change: a field name is never looked up as a method. Decoded JSON
// (maps, slices, strings, numbers, bools) has no methods, so templates
// behave exactly as text/template's do on it; but text/template's
// reflect.Value.MethodByName, once reachable, makes the linker keep every
// exported method of every type in the binary: 4.7 MB of wirebot's
// 22.6 MB. Map keys are ranged in sorted order as text/template does.
package jsontemplate
