package xsk

import "testing"

func TestOptionsValidate(t *testing.T) {
	if err := DefaultOptions().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Options){
		"frame_size_3000":   func(o *Options) { o.FrameSize = 3000 },
		"no_frames":         func(o *Options) { o.NumFrames = 0 },
		"fill_not_pow2":     func(o *Options) { o.FillSize = 1000 },
		"completion_lt_tx":  func(o *Options) { o.CompletionSize = 1024 },
		"budget_gt_tx":      func(o *Options) { o.TXBudget = 4096 },
		"negative_budget":   func(o *Options) { o.TXBudget = -1 },
		"unknown_bind_mode": func(o *Options) { o.Mode = 7 },
	} {
		o := DefaultOptions()
		mod(&o)
		if o.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
