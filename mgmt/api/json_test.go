package api

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/xdpvs/xdpvs/dataplane/control"
)

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// jsonKeys lists the JSON keys of the struct types reachable from t, with where they are.
// Types that marshal themselves (addresses, times, durations, protocols) are leaves.
func jsonKeys(t reflect.Type, where string, seen map[reflect.Type]bool, keys map[string]string) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	text := reflect.TypeFor[encoding.TextMarshaler]()
	js := reflect.TypeFor[json.Marshaler]()
	if t.Kind() != reflect.Struct || seen[t] || t.Implements(text) || reflect.PointerTo(t).Implements(text) ||
		t.Implements(js) || reflect.PointerTo(t).Implements(js) {
		return
	}
	seen[t] = true
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			jsonKeys(f.Type, where, seen, keys) // embedded: its fields are this struct's
			continue
		}
		if name == "" {
			name = f.Name
		}
		keys[t.Name()+"."+name] = where
		jsonKeys(f.Type, where+"."+name, seen, keys)
	}
}

// TestWireKeysSnakeCase: every key of a request or a response, at any depth, is snake_case.
func TestWireKeysSnakeCase(t *testing.T) {
	keys := map[string]string{}
	seen := map[reflect.Type]bool{}
	jsonKeys(reflect.TypeFor[Request](), "request", seen, keys)
	jsonKeys(reflect.TypeFor[Response](), "response", seen, keys)
	if len(keys) < 50 {
		t.Fatalf("only %d keys found: the walk misses types", len(keys))
	}
	for k, where := range keys {
		if _, name, _ := strings.Cut(k, "."); !snakeCase.MatchString(name) {
			t.Errorf("key %q of %s (in %s) is not snake_case", name, strings.Split(k, ".")[0], where)
		}
	}
}

// TestWorkersMirrorControl: the listed worker counters have every field of the dataplane's, so
// that a counter added there is not silently left out of the listing.
func TestWorkersMirrorControl(t *testing.T) {
	for _, pair := range [][2]reflect.Type{
		{reflect.TypeFor[control.WorkerStats](), reflect.TypeFor[WorkerStats]()},
		{reflect.TypeFor[control.NamedCount](), reflect.TypeFor[NamedCount]()},
	} {
		var want, got []string
		for i := range pair[0].NumField() {
			want = append(want, pair[0].Field(i).Name)
		}
		for i := range pair[1].NumField() {
			got = append(got, pair[1].Field(i).Name)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s has fields %v, %s %v", pair[1], got, pair[0], want)
		}
	}
	// Every field of the dataplane's counters set, by reflection, and found again in the listing.
	var in control.WorkerStats
	v := reflect.ValueOf(&in).Elem()
	for i := range v.NumField() {
		switch f := v.Field(i); f.Kind() {
		case reflect.Int:
			f.SetInt(int64(i + 1))
		case reflect.Uint64:
			f.SetUint(uint64(i + 1))
		case reflect.Slice:
			f.Set(reflect.ValueOf([]control.NamedCount{{Name: v.Type().Field(i).Name, Count: uint64(i)}}))
		default:
			t.Fatalf("control.WorkerStats.%s: a %s, unknown to this test", v.Type().Field(i).Name, f.Kind())
		}
	}
	out := reflect.ValueOf(Workers([]control.WorkerStats{in})[0])
	for i := range v.NumField() {
		if got, want := fmt.Sprint(out.Field(i).Interface()), fmt.Sprint(v.Field(i).Interface()); got != want {
			t.Errorf("%s listed as %s, want %s", v.Type().Field(i).Name, got, want)
		}
	}
	if Workers(nil) != nil {
		t.Error("no workers listed as an empty list")
	}
}
