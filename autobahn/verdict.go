package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// verdict summarises a report's index.json and fails unless every case is
// OK or INFORMATIONAL, for behaviour and for closing behaviour alike:
// NON-STRICT counts as short.
func verdict(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: autobahn verdict reports/.../index.json")
	}
	b, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	var index map[string]map[string]struct {
		Behavior      string `json:"behavior"`
		BehaviorClose string `json:"behaviorClose"`
	}
	if err := json.Unmarshal(b, &index); err != nil {
		return err
	}
	good := func(s string) bool { return s == "OK" || s == "INFORMATIONAL" }
	short := 0
	for agent, cases := range index {
		ids := make([]string, 0, len(cases))
		counts := map[string]int{}
		for id, c := range cases {
			ids = append(ids, id)
			counts[c.Behavior]++
		}
		slices.SortFunc(ids, compareCase)
		bad := 0
		for _, id := range ids {
			if c := cases[id]; !good(c.Behavior) || !good(c.BehaviorClose) {
				fmt.Printf("  %s %s/%s\n", id, c.Behavior, c.BehaviorClose)
				bad++
			}
		}
		fmt.Printf("%s: %d cases, %d short; %v\n", agent, len(cases), bad, counts)
		short += bad
	}
	if short > 0 {
		return fmt.Errorf("%d cases short of OK", short)
	}
	return nil
}

// compareCase orders case ids such as "9.1.10" numerically.
func compareCase(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, _ := strconv.Atoi(as[i])
		y, _ := strconv.Atoi(bs[i])
		if x != y {
			return x - y
		}
	}
	return len(as) - len(bs)
}
