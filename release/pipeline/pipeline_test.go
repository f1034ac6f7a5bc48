package pipeline

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestRunReportsEachStepAndStopsAtTheFirstError(t *testing.T) {
	var ran []string
	step := func(name string, res Result, err error) Step {
		return StepFunc(name, func(context.Context, *Context) (Result, error) {
			ran = append(ran, name)
			return res, err
		})
	}
	boom := errors.New("boom")
	var out bytes.Buffer
	err := Run(context.Background(), &Context{}, []Step{
		step("first", Done{Detail: "made a file"}, nil),
		step("second", Skipped{Reason: "nothing to do here"}, nil),
		step("third", nil, boom),
		step("fourth", Done{}, nil),
	}, &out)

	var se *StepError
	if !errors.As(err, &se) || se.Step != "third" || !errors.Is(err, boom) {
		t.Fatalf("error = %v, want a StepError naming third and wrapping boom", err)
	}
	if !strings.Contains(err.Error(), "third") {
		t.Errorf("error %q does not name the step", err)
	}
	if strings.Join(ran, ",") != "first,second,third" {
		t.Errorf("ran %v, want the steps up to the failing one", ran)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("report has %d lines, want one per step run:\n%s", len(lines), out.String())
	}
	for i, want := range [][]string{
		{"first", "ok", "made a file"},
		{"second", "skipped", "nothing to do here"},
		{"third", "FAILED", "boom"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d %q lacks %q", i, lines[i], w)
			}
		}
		if !strings.Contains(lines[i], "s ") {
			t.Errorf("line %d %q shows no duration", i, lines[i])
		}
	}
}

func TestRunStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	err := Run(ctx, &Context{}, []Step{StepFunc("only", func(context.Context, *Context) (Result, error) {
		called = true
		return Done{}, nil
	})}, nil)
	if called || !errors.Is(err, context.Canceled) {
		t.Fatalf("called=%v err=%v, want no step run and context.Canceled", called, err)
	}
}

func TestAddReplacesAnArtifactOfTheSameName(t *testing.T) {
	c := &Context{}
	c.Add(Artifact{Name: "a", Path: "/1"})
	c.Add(Artifact{Name: "b", Path: "/2"})
	c.Add(Artifact{Name: "a", Path: "/3"})
	if len(c.Artifacts) != 2 || c.Artifacts[0].Path != "/3" || c.Artifacts[1].Name != "b" {
		t.Fatalf("artifacts = %+v", c.Artifacts)
	}
}
