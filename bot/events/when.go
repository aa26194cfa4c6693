package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
)

// stepper counts closure iterations (all, any, filter, map, ...) of one
// evaluation and stops it past its deadline or step budget: the time bound.
type stepper struct {
	ctx      context.Context
	deadline time.Time
	n        int
}

var errWhenTooSlow = errors.New("when: evaluation over its time or step budget")

func (s *stepper) step() error {
	s.n++
	if s.n > maxStepsPerRun {
		return errWhenTooSlow
	}
	if s.n%256 == 0 && (time.Now().After(s.deadline) || s.ctx.Err() != nil) {
		return errWhenTooSlow
	}
	return nil
}

// stepPatcher wraps every predicate body X in __step(__steps, X).
type stepPatcher struct{}

func (stepPatcher) Visit(node *ast.Node) {
	if c, ok := (*node).(*ast.PredicateNode); ok {
		c.Node = &ast.CallNode{
			Callee:    &ast.IdentifierNode{Value: "__step"},
			Arguments: []ast.Node{&ast.IdentifierNode{Value: "__steps"}, c.Node},
		}
	}
}

func stepFunc(params ...any) (any, error) {
	s, ok := params[0].(*stepper)
	if !ok {
		return nil, errors.New("when: no step counter")
	}
	if err := s.step(); err != nil {
		return nil, err
	}
	return params[1], nil
}

// CompileWhen compiles a `when` expression. Its error has the line and
// column (expr's "message (line:column)" and a snippet pointing at it).
func CompileWhen(src string) (*vm.Program, error) {
	p, err := expr.Compile(src,
		expr.AllowUndefinedVariables(),
		expr.AsBool(),
		expr.MaxNodes(maxWhenNodes),
		expr.Function("__step", stepFunc),
		expr.Patch(stepPatcher{}),
	)
	if err != nil {
		return nil, fmt.Errorf("%w", err)
	}
	return p, nil
}

// evalWhen runs p over data within whenTimeout and expr's memory budget.
func evalWhen(ctx context.Context, p *vm.Program, data map[string]any) (bool, error) {
	s := &stepper{ctx: ctx, deadline: time.Now().Add(whenTimeout)}
	data["__steps"] = s
	defer delete(data, "__steps")
	machine := vm.VM{MemoryBudget: whenBudget}
	out, err := machine.Run(p, data)
	if err != nil {
		return false, fmt.Errorf("evaluate when: %w", err)
	}
	ok, _ := out.(bool)
	return ok, nil
}
