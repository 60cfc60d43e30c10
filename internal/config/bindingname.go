package config

import (
	"fmt"
	"regexp"
)

// bindingNameChars are the characters of a binding name, of any length.
var bindingNameChars = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// envBindingName reads EnvBindingName: the binding name to give the
// config's one binding ("" when unset), and a note for the init log when
// it had to be shortened.
func envBindingName(env map[string]string) (name, note string, err error) {
	v, ok := env[EnvBindingName]
	if !ok {
		return "", "", nil
	}
	if !bindingNameChars.MatchString(v) {
		return "", "", envErr([]string{EnvBindingName}, "must be letters, digits, '.', '_' or '-', got "+quote(v))
	}
	name = ShortBindingName(v)
	if name != v {
		note = fmt.Sprintf("%s is %d characters, more than the %d of a binding name: the binding is named %s", EnvBindingName, len(v), maxBindingName, name)
	}
	return name, note, nil
}

// nameOnlyBinding gives the config's one binding the name from
// EnvBindingName; a config with another number of bindings, or whose
// binding has a name, is a problem, so that the name is set in one place.
func nameOnlyBinding(raw *rawConfig, name string, ps *problems) {
	items := raw.Bindings.items
	switch {
	case len(items) != 1:
		ps.add("bindings", fmt.Sprintf("%s names the config's one binding, but it has %d: name the bindings in the config and remove %s",
			EnvBindingName, len(items), EnvBindingName))
	case items[0].v.Name.v != "":
		ps.add(join(index("bindings", 0), "name"), fmt.Sprintf("is %s, and %s names the binding too: name it in one place", quote(items[0].v.Name.v), EnvBindingName))
	default:
		items[0].v.Name = value[string]{at: at{set: true}, v: name}
	}
}
