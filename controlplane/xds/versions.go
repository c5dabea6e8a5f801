package xds

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
)

// generation is one built, validated snapshot. Its version is global and monotonic; each
// resource type carries the version of the generation in which that type last changed, so a
// stage change (routes only) leaves the listener's, clusters', endpoints' and secret's versions
// alone and Envoy is sent only the new routes.
type generation struct {
	version  uint64
	revision int64 // registry revision it was built from
	snap     *cache.Snapshot
	versions map[resource.Type]string // per type, as in snap
	changed  []resource.Type          // types whose version is this generation's
}

// versioner assigns per-type versions. It is a value: next returns the successor, which the
// caller keeps only once the generation has been validated, so a rejected build does not
// count as served.
type versioner struct {
	last     uint64
	hashes   map[resource.Type][sha256.Size]byte
	versions map[resource.Type]string
}

// next returns the generation for res and the versioner that knows it, or changed=false when
// no resource differs from the last generation.
func (v versioner) next(res map[resource.Type][]types.Resource, revision int64) (gen *generation, succ versioner, changed bool, err error) {
	succ = versioner{
		last:     v.last + 1,
		hashes:   maps.Clone(v.hashes),
		versions: maps.Clone(v.versions),
	}
	if succ.hashes == nil {
		succ.hashes = map[resource.Type][sha256.Size]byte{}
		succ.versions = map[resource.Type]string{}
	}
	ver := strconv.FormatUint(succ.last, 10)
	gen = &generation{version: succ.last, revision: revision, snap: &cache.Snapshot{}, versions: map[resource.Type]string{}}
	for _, typ := range slices.Sorted(maps.Keys(res)) {
		h, err := hashResources(res[typ])
		if err != nil {
			return nil, v, false, err
		}
		if old, ok := succ.hashes[typ]; !ok || old != h {
			succ.hashes[typ] = h
			succ.versions[typ] = ver
			gen.changed = append(gen.changed, typ)
		}
		idx := cache.GetResponseType(typ)
		if idx == types.UnknownType {
			return nil, v, false, fmt.Errorf("cannot version resources of unknown type %q", typ)
		}
		gen.snap.Resources[idx] = cache.NewResources(succ.versions[typ], res[typ])
		gen.versions[typ] = succ.versions[typ]
	}
	for typ := range succ.hashes {
		if _, ok := res[typ]; !ok { // a type that disappeared is a change too
			delete(succ.hashes, typ)
			delete(succ.versions, typ)
			gen.changed = append(gen.changed, typ)
		}
	}
	if len(gen.changed) == 0 {
		return nil, v, false, nil
	}
	return gen, succ, true, nil
}

// hashResources hashes the deterministic encoding of resources, sorted by name.
func hashResources(rs []types.Resource) ([sha256.Size]byte, error) {
	sorted := slices.Clone(rs)
	slices.SortFunc(sorted, func(a, b types.Resource) int {
		return cmp.Compare(cache.GetResourceName(a), cache.GetResourceName(b))
	})
	h := sha256.New()
	opts := proto.MarshalOptions{Deterministic: true}
	var n [8]byte
	for _, r := range sorted {
		b, err := opts.Marshal(r)
		if err != nil {
			return [sha256.Size]byte{}, fmt.Errorf("cannot marshal resource %q: %w", cache.GetResourceName(r), err)
		}
		name := cache.GetResourceName(r)
		binary.BigEndian.PutUint64(n[:], uint64(len(name)))
		h.Write(n[:])
		h.Write([]byte(name))
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	var out [sha256.Size]byte
	copy(out[:], h.Sum(nil))
	return out, nil
}

// parseVersion returns the generation number of a version string, 0 if it is not one of ours.
func parseVersion(v string) uint64 {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0
	}
	return n
}
