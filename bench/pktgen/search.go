package pktgen

import (
	"errors"
	"fmt"
)

// Trial offers rate frames per second for one trial and reports what was sent and received.
type Trial func(rate float64) (TrialResult, error)

// TrialResult is one trial of a search.
type TrialResult struct {
	Rate     float64 // offered (target) rate
	Achieved float64 // rate at which the generator actually sent
	Sent     uint64
	Received uint64
}

// Loss is the share of the sent frames that did not arrive (0 if nothing was sent).
func (t TrialResult) Loss() float64 {
	if t.Sent == 0 || t.Received >= t.Sent {
		return 0
	}
	return float64(t.Sent-t.Received) / float64(t.Sent)
}

func (t TrialResult) String() string {
	return fmt.Sprintf("%.3f Mpps offered (%.3f sent): %d sent, %d received, loss %.4f %%",
		t.Rate/1e6, t.Achieved/1e6, t.Sent, t.Received, 100*t.Loss())
}

// SearchOptions shape an RFC 2544 binary search (section 26.1).
type SearchOptions struct {
	// Max is the highest rate tried, first (the generator's or the line's maximum).
	Max float64
	// MaxLoss is the loss a passing trial may have: 0 for the no-drop rate (NDR), PDRLoss for
	// the partial-drop rate (PDR).
	MaxLoss float64
	// Resolution ends the search once the passing and failing rates are this close, relative to
	// Max (0: 0.01).
	Resolution float64
	// MaxTrials bounds the search (0: 12).
	MaxTrials int
}

// PDRLoss is the loss a PDR trial may have: 0.5 %.
const PDRLoss = 0.005

// SearchResult is the outcome of a search.
type SearchResult struct {
	Rate   float64 // highest passing offered rate, 0 if none passed
	Best   TrialResult
	Trials []TrialResult
}

// Search finds the highest rate at which trial loses at most opts.MaxLoss of its frames: it tries
// Max first, then halves the interval between the highest passing and the lowest failing rate
// until they are Resolution*Max apart. A trial whose generator could not reach the offered rate
// (Achieved < 0.98 Rate) is judged at the rate it achieved.
func Search(trial Trial, opts SearchOptions) (SearchResult, error) {
	var res SearchResult
	if opts.Max <= 0 {
		return res, errors.New("pktgen: search: no maximum rate")
	}
	if opts.Resolution <= 0 {
		opts.Resolution = 0.01
	}
	if opts.MaxTrials <= 0 {
		opts.MaxTrials = 12
	}
	lo, hi := 0.0, opts.Max
	rate := opts.Max
	for len(res.Trials) < opts.MaxTrials {
		t, err := trial(rate)
		if err != nil {
			return res, err
		}
		res.Trials = append(res.Trials, t)
		pass := t.Loss() <= opts.MaxLoss
		eff := rate
		if t.Achieved > 0 && t.Achieved < 0.98*rate {
			eff = t.Achieved
		}
		if pass {
			if eff > res.Rate {
				res.Rate, res.Best = eff, t
			}
			lo = eff
			if rate == opts.Max {
				break // the top passed: nothing above to find
			}
		} else {
			hi = min(hi, rate)
		}
		if hi-lo <= opts.Resolution*opts.Max {
			break
		}
		rate = (lo + hi) / 2
	}
	return res, nil
}
