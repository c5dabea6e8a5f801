package record

import (
	"encoding/binary"
	"math"
	"testing"
)

func testID(i int) ID {
	var id ID
	binary.LittleEndian.PutUint64(id[:], uint64(i)*0x9e3779b97f4a7c15)
	binary.LittleEndian.PutUint64(id[8:], uint64(i))
	return id
}

func TestIDCountsCountsRepeatsAcrossGrowth(t *testing.T) {
	var c idCounts
	const n = 10_000 // grows from minIDSlots many times
	for round := range uint32(3) {
		for i := range n {
			if got := c.add(testID(i)); got != round {
				t.Fatalf("round %d: add(id %d) = %d, want %d", round, i, got, round)
			}
		}
	}
	if c.used != n || c.used > len(c.slots)/2 {
		t.Errorf("%d ids in %d slots, want %d in at least twice as many", c.used, len(c.slots), n)
	}
}

func TestIDCountsResetForgets(t *testing.T) {
	var c idCounts
	c.reset() // reset before the first add is fine
	c.add(testID(1))
	c.add(testID(1))
	c.reset()
	if got := c.add(testID(1)); got != 0 {
		t.Errorf("after reset: add = %d, want 0", got)
	}
}

func TestIDCountsGenerationWrapClearsStaleSlots(t *testing.T) {
	var c idCounts
	c.reset() // generation 1
	c.add(testID(1))
	c.gen = math.MaxUint32 // 2^32-2 requests later
	c.reset()              // wraps to generation 1 again
	if got := c.add(testID(1)); got != 0 {
		t.Errorf("after the generation wrapped: add = %d, want 0 (a slot of 2^32 requests ago counted)", got)
	}
}

func TestIDCountsDropsOversizedTable(t *testing.T) {
	var c idCounts
	for i := range 20_000 {
		c.add(testID(i))
	}
	c.reset() // the table was well used: kept
	if len(c.slots) == 0 {
		t.Fatal("a well-used table was dropped")
	}
	c.add(testID(1))
	c.reset() // the table is far too large for that request: dropped
	if len(c.slots) != 0 {
		t.Fatalf("a table of %d slots was kept for a request of 1 id", len(c.slots))
	}
	if got := c.add(testID(1)); got != 0 {
		t.Errorf("add after the table was dropped = %d, want 0", got)
	}
}
