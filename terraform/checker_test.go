// Package terraform_test checks the AWS fleet's Terraform configuration
// without cloud access (the AWS provider cannot be downloaded here, so no
// terraform validate or plan): it parses every .tf file with hcl/v2 and walks
// it. It reads terraform/ and nomad/ and changes neither.
package terraform_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// requiredTagKeys are the tags every AWS resource must carry. The rule:
// provider default_tags (local.tags, which merges local.required_tags last)
// cover every aws_* resource, except what an Auto Scaling group launches,
// which the provider does not tag: aws_autoscaling_group needs `tag` blocks
// over local.tags with propagate_at_launch = true, and aws_launch_template
// needs tag_specifications for instances and volumes with local.tags. No
// resource may override a required key in its own tags.
var requiredTagKeys = []string{"Project", "Environment", "ManagedBy"}

// nomadRunbookFiles are the nomad/ files the README's runbook uses: the
// platform's job files and the scheduler's ACL policy.
var nomadRunbookFiles = []string{
	"ezlive-api.nomad.hcl", "ezlive-scheduler.nomad.hcl", "ezlive-origin.nomad.hcl", "ezlive-ingest.nomad.hcl",
	"scheduler-policy.hcl",
}

// problemKind separates what is wrong here from what another helper has not written yet.
type problemKind int

const (
	defect       problemKind = iota
	missingNomad             // a nomad/ file this configuration uses does not exist (yet)
)

type problem struct {
	kind problemKind
	msg  string
}

// module is one Terraform root module, parsed.
type module struct {
	dir       string
	nomadDir  string
	files     map[string]*hclsyntax.Body
	variables map[string]*hclsyntax.Block
	locals    map[string]*hclsyntax.Attribute
	resources map[string]*hclsyntax.Block // "type.name"
	data      map[string]*hclsyntax.Block // "type.name"
	modules   map[string]*hclsyntax.Block
	providers []*hclsyntax.Block
	problems  []problem
}

// scope is what a reference may name besides the module's declarations.
type scope struct {
	count, each, self bool
	iterators         map[string]bool
}

func (s scope) with(iterator string) scope {
	its := map[string]bool{iterator: true}
	for k := range s.iterators {
		its[k] = true
	}
	s.iterators = its
	return s
}

// checkModule runs every check on the module in dir, whose nomad/ is beside it.
func checkModule(dir string) []problem {
	m := loadModule(dir)
	if len(m.files) == 0 {
		m.fail(defect, "%s: no .tf files", dir)
		return m.problems
	}
	m.checkReferences()
	m.checkFiles()
	m.checkDeadLetterQueue()
	m.checkTags()
	m.checkVariables()
	m.checkOutputs()
	m.checkNomadJobFiles()
	m.checkPrivateInstances()
	m.checkCloudFrontOrigins()
	m.checkNomadAgentTLS()
	m.checkACLBootstrap()
	m.checkNoReadAllPolicies()
	m.checkSecretReaders()
	m.checkPrivateBuckets()
	return m.problems
}

func (m *module) fail(kind problemKind, format string, args ...any) {
	m.problems = append(m.problems, problem{kind, fmt.Sprintf(format, args...)})
}

func at(r hcl.Range) string {
	return fmt.Sprintf("%s:%d", filepath.Base(r.Filename), r.Start.Line)
}

func loadModule(dir string) *module {
	m := &module{
		dir:       dir,
		nomadDir:  filepath.Join(dir, "..", "nomad"),
		files:     map[string]*hclsyntax.Body{},
		variables: map[string]*hclsyntax.Block{},
		locals:    map[string]*hclsyntax.Attribute{},
		resources: map[string]*hclsyntax.Block{},
		data:      map[string]*hclsyntax.Block{},
		modules:   map[string]*hclsyntax.Block{},
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		m.fail(defect, "list .tf files: %v", err)
		return m
	}
	parser := hclparse.NewParser()
	for _, p := range paths {
		f, diags := parser.ParseHCLFile(p)
		if diags.HasErrors() {
			m.fail(defect, "parse %s: %s", filepath.Base(p), diags.Error())
			continue
		}
		body := f.Body.(*hclsyntax.Body)
		m.files[p] = body
		m.declare(body)
	}
	return m
}

func (m *module) declare(body *hclsyntax.Body) {
	add := func(into map[string]*hclsyntax.Block, key string, b *hclsyntax.Block) {
		if prev, dup := into[key]; dup {
			m.fail(defect, "%s: %s %q declared again (first at %s)", at(b.DefRange()), b.Type, key, at(prev.DefRange()))
		}
		into[key] = b
	}
	for _, b := range body.Blocks {
		switch b.Type {
		case "variable":
			add(m.variables, b.Labels[0], b)
		case "resource":
			add(m.resources, b.Labels[0]+"."+b.Labels[1], b)
		case "data":
			add(m.data, b.Labels[0]+"."+b.Labels[1], b)
		case "module":
			add(m.modules, b.Labels[0], b)
		case "provider":
			m.providers = append(m.providers, b)
		case "locals":
			for name, a := range b.Body.Attributes {
				if prev, dup := m.locals[name]; dup {
					m.fail(defect, "%s: local.%s declared again (first at %s)", at(a.SrcRange), name, at(prev.SrcRange))
				}
				m.locals[name] = a
			}
		}
	}
}

// --- references ------------------------------------------------------------------

func (m *module) checkReferences() {
	for _, body := range m.files {
		for _, b := range body.Blocks {
			switch b.Type {
			case "terraform":
				// required_version and required_providers hold no references.
			case "variable":
				m.checkBody(b.Body, scope{}, "type")
			case "resource", "data", "module":
				sc := scope{}
				_, sc.count = b.Body.Attributes["count"]
				_, sc.each = b.Body.Attributes["for_each"]
				m.checkBody(b.Body, sc, "provider", "providers", "source", "version")
			default:
				m.checkBody(b.Body, scope{})
			}
		}
	}
}

// checkBody resolves every reference in body, skipping the named attributes
// (meta-arguments that hold keywords, not references).
func (m *module) checkBody(body *hclsyntax.Body, sc scope, skip ...string) {
	for name, a := range body.Attributes {
		if slices.Contains(skip, name) {
			continue
		}
		m.checkExpr(a.Expr, sc)
	}
	for _, b := range body.Blocks {
		switch b.Type {
		case "dynamic":
			m.checkDynamic(b, sc)
		case "lifecycle":
			m.checkBody(b.Body, sc, "ignore_changes")
		case "provisioner", "connection":
			inner := sc
			inner.self = true
			m.checkBody(b.Body, inner)
		default:
			m.checkBody(b.Body, sc)
		}
	}
}

// checkDynamic: for_each is evaluated outside; content sees the iterator
// (the block's label unless `iterator` renames it).
func (m *module) checkDynamic(b *hclsyntax.Block, sc scope) {
	iterator := b.Labels[0]
	if a, ok := b.Body.Attributes["iterator"]; ok {
		iterator = hcl.ExprAsKeyword(a.Expr)
	}
	for name, a := range b.Body.Attributes {
		if name != "iterator" {
			m.checkExpr(a.Expr, sc)
		}
	}
	for _, inner := range b.Body.Blocks {
		m.checkBody(inner.Body, sc.with(iterator))
	}
}

func (m *module) checkExpr(expr hclsyntax.Expression, sc scope) {
	for _, t := range hclsyntax.Variables(expr) {
		if msg := m.resolve(t, sc); msg != "" {
			m.fail(defect, "%s: %s", at(t.SourceRange()), msg)
		}
	}
}

func attrAt(t hcl.Traversal, i int) string {
	if i >= len(t) {
		return ""
	}
	if a, ok := t[i].(hcl.TraverseAttr); ok {
		return a.Name
	}
	return ""
}

// resolve returns why t names nothing, or "" when it resolves.
func (m *module) resolve(t hcl.Traversal, sc scope) string {
	root, first := t.RootName(), attrAt(t, 1)
	switch {
	case root == "var":
		if m.variables[first] == nil {
			return fmt.Sprintf("var.%s is not declared", first)
		}
	case root == "local":
		if m.locals[first] == nil {
			return fmt.Sprintf("local.%s is not declared", first)
		}
	case root == "data":
		key := first + "." + attrAt(t, 2)
		if m.data[key] == nil {
			return fmt.Sprintf("data.%s is not declared", key)
		}
	case root == "module":
		if m.modules[first] == nil {
			return fmt.Sprintf("module.%s is not declared", first)
		}
	case root == "path":
		if !slices.Contains([]string{"module", "root", "cwd"}, first) {
			return fmt.Sprintf("path.%s does not exist", first)
		}
	case root == "terraform":
		if first != "workspace" {
			return fmt.Sprintf("terraform.%s does not exist", first)
		}
	case root == "count":
		if !sc.count || first != "index" {
			return "count." + first + " used outside a block with count"
		}
	case root == "each":
		if !sc.each || (first != "key" && first != "value") {
			return "each." + first + " used outside a block with for_each"
		}
	case root == "self":
		if !sc.self {
			return "self used outside a provisioner"
		}
	case sc.iterators[root]:
	default:
		key := root + "." + first
		if m.resources[key] == nil {
			return fmt.Sprintf("resource %s is not declared", key)
		}
	}
	return ""
}

// --- files read by file() and templatefile() ----------------------------------------------

// checkFiles makes sure every file the configuration reads exists, and that
// every variable a template uses is passed to templatefile().
func (m *module) checkFiles() {
	ctx := m.pathContext()
	for _, body := range m.files {
		hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
			call, ok := n.(*hclsyntax.FunctionCallExpr)
			if !ok || !slices.Contains([]string{"file", "filebase64", "templatefile"}, call.Name) || len(call.Args) == 0 {
				return nil
			}
			m.checkFileCall(call, ctx)
			return nil
		})
	}
}

func (m *module) checkFileCall(call *hclsyntax.FunctionCallExpr, ctx *hcl.EvalContext) {
	path, ok := filePath(call, ctx)
	if !ok {
		m.fail(defect, "%s: %s() path cannot be worked out from path.module and locals", at(call.Range()), call.Name)
		return
	}
	src, err := os.ReadFile(path)
	if err != nil {
		kind := defect
		if rel, rerr := filepath.Rel(filepath.Clean(m.nomadDir), path); rerr == nil && !strings.HasPrefix(rel, "..") {
			kind = missingNomad
		}
		m.fail(kind, "%s: %s() reads %s, which cannot be read: %v", at(call.Range()), call.Name, path, err)
		return
	}
	if call.Name == "templatefile" && len(call.Args) == 2 {
		m.checkTemplateVars(call, path, src)
	}
}

// filePath is the file a file()/templatefile() call reads, when path.module
// and path-only locals tell.
func filePath(call *hclsyntax.FunctionCallExpr, ctx *hcl.EvalContext) (string, bool) {
	if len(call.Args) == 0 {
		return "", false
	}
	v, diags := call.Args[0].Value(ctx)
	if diags.HasErrors() || !v.IsKnown() || v.Type() != cty.String {
		return "", false
	}
	return filepath.Clean(v.AsString()), true
}

func (m *module) checkTemplateVars(call *hclsyntax.FunctionCallExpr, path string, src []byte) {
	tmpl, diags := hclsyntax.ParseTemplate(src, path, hcl.InitialPos)
	if diags.HasErrors() {
		m.fail(defect, "parse template %s: %s", filepath.Base(path), diags.Error())
		return
	}
	passed, ok := m.objectKeys(call.Args[1])
	if !ok {
		m.fail(defect, "%s: cannot tell which variables templatefile() passes to %s (use an object, merge() of objects, or a local holding one)", at(call.Range()), filepath.Base(path))
		return
	}
	for _, t := range hclsyntax.Variables(tmpl) {
		if !passed[t.RootName()] {
			m.fail(defect, "%s: template uses %s, which %s does not pass", at(t.SourceRange()), t.RootName(), at(call.Range()))
		}
	}
}

// objectKeys lists the keys of an object expression: a literal, merge() of
// such, or a local holding one.
func (m *module) objectKeys(expr hclsyntax.Expression) (map[string]bool, bool) {
	items, ok := m.objectItems(expr)
	keys := map[string]bool{}
	for k := range items {
		keys[k] = true
	}
	return keys, ok
}

// objectItems is objectKeys with each key's value expression (the last one
// merge() would keep).
func (m *module) objectItems(expr hclsyntax.Expression) (map[string]hclsyntax.Expression, bool) {
	switch e := expr.(type) {
	case *hclsyntax.ObjectConsExpr:
		items := map[string]hclsyntax.Expression{}
		for _, item := range e.Items {
			k, ok := objectKey(item)
			if !ok {
				return nil, false
			}
			items[k] = item.ValueExpr
		}
		return items, true
	case *hclsyntax.FunctionCallExpr:
		if e.Name != "merge" {
			return nil, false
		}
		items := map[string]hclsyntax.Expression{}
		for _, arg := range e.Args {
			sub, ok := m.objectItems(arg)
			if !ok {
				return nil, false
			}
			for k, v := range sub {
				items[k] = v
			}
		}
		return items, true
	case *hclsyntax.ScopeTraversalExpr:
		if e.Traversal.RootName() == "local" && len(e.Traversal) == 2 {
			if a := m.locals[attrAt(e.Traversal, 1)]; a != nil {
				return m.objectItems(a.Expr)
			}
		}
	}
	return nil, false
}

// objectKey is the literal key of an object item, if it has one.
func objectKey(item hclsyntax.ObjectConsItem) (string, bool) {
	if k := hcl.ExprAsKeyword(item.KeyExpr); k != "" {
		return k, true
	}
	v, diags := item.KeyExpr.Value(nil)
	if diags.HasErrors() || !v.IsKnown() || v.Type() != cty.String {
		return "", false
	}
	return v.AsString(), true
}

// pathContext evaluates path.* and the locals built only from path.* and
// other such locals (e.g. local.nomad_dir), enough for file() paths.
func (m *module) pathContext() *hcl.EvalContext {
	p := cty.StringVal(m.dir)
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{
		"path":  cty.ObjectVal(map[string]cty.Value{"module": p, "root": p, "cwd": p}),
		"local": cty.EmptyObjectVal,
	}}
	known := map[string]cty.Value{}
	for range 3 {
		for name, a := range m.locals {
			if _, done := known[name]; done || !m.pathOnly(a.Expr, known) {
				continue
			}
			if v, diags := a.Expr.Value(ctx); !diags.HasErrors() {
				known[name] = v
			}
		}
		if len(known) > 0 {
			ctx.Variables["local"] = cty.ObjectVal(known)
		}
	}
	return ctx
}

func (m *module) pathOnly(expr hclsyntax.Expression, known map[string]cty.Value) bool {
	for _, t := range hclsyntax.Variables(expr) {
		switch t.RootName() {
		case "path":
		case "local":
			if _, ok := known[attrAt(t, 1)]; !ok {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// --- SQS dead-letter queue ---------------------------------------------------------------

// checkDeadLetterQueue: some aws_sqs_queue has redrive_policy =
// jsonencode({deadLetterTargetArn = aws_sqs_queue.<dlq>.arn, maxReceiveCount = ...}),
// the DLQ is another declared queue without a redrive policy of its own, and
// maxReceiveCount is a positive number or a validated variable.
func (m *module) checkDeadLetterQueue() {
	wired := 0
	for key, b := range m.resources {
		if b.Labels[0] != "aws_sqs_queue" {
			continue
		}
		a, ok := b.Body.Attributes["redrive_policy"]
		if !ok {
			continue
		}
		if m.checkRedrive(key, a) {
			wired++
		}
	}
	if wired == 0 {
		m.fail(defect, "no aws_sqs_queue has a wired redrive_policy: the command queue needs a dead-letter queue")
	}
}

func (m *module) checkRedrive(queue string, a *hclsyntax.Attribute) bool {
	call, ok := a.Expr.(*hclsyntax.FunctionCallExpr)
	if !ok || call.Name != "jsonencode" || len(call.Args) != 1 {
		m.fail(defect, "%s: %s redrive_policy must be jsonencode({...})", at(a.SrcRange), queue)
		return false
	}
	obj, ok := call.Args[0].(*hclsyntax.ObjectConsExpr)
	if !ok {
		m.fail(defect, "%s: %s redrive_policy must encode an object literal", at(a.SrcRange), queue)
		return false
	}
	items := map[string]hclsyntax.Expression{}
	for _, item := range obj.Items {
		if k, ok := objectKey(item); ok {
			items[k] = item.ValueExpr
		}
	}
	return m.checkDeadLetterTarget(queue, a, items["deadLetterTargetArn"]) &&
		m.checkMaxReceiveCount(queue, a, items["maxReceiveCount"])
}

func (m *module) checkDeadLetterTarget(queue string, a *hclsyntax.Attribute, target hclsyntax.Expression) bool {
	ref, ok := target.(*hclsyntax.ScopeTraversalExpr)
	if target == nil || !ok || len(ref.Traversal) != 3 || ref.Traversal.RootName() != "aws_sqs_queue" || attrAt(ref.Traversal, 2) != "arn" {
		m.fail(defect, "%s: %s redrive_policy.deadLetterTargetArn must be aws_sqs_queue.<dlq>.arn", at(a.SrcRange), queue)
		return false
	}
	dlq := "aws_sqs_queue." + attrAt(ref.Traversal, 1)
	switch b := m.resources[dlq]; {
	case b == nil:
		m.fail(defect, "%s: %s's dead-letter queue %s is not declared", at(a.SrcRange), queue, dlq)
	case dlq == queue:
		m.fail(defect, "%s: %s is its own dead-letter queue", at(a.SrcRange), queue)
	case b.Body.Attributes["redrive_policy"] != nil:
		m.fail(defect, "%s: dead-letter queue %s has a redrive_policy of its own", at(a.SrcRange), dlq)
	default:
		return true
	}
	return false
}

func (m *module) checkMaxReceiveCount(queue string, a *hclsyntax.Attribute, count hclsyntax.Expression) bool {
	if count == nil {
		m.fail(defect, "%s: %s redrive_policy has no maxReceiveCount", at(a.SrcRange), queue)
		return false
	}
	if v, diags := count.Value(nil); !diags.HasErrors() && v.Type() == cty.Number {
		if v.AsBigFloat().Sign() > 0 {
			return true
		}
		m.fail(defect, "%s: %s maxReceiveCount must be at least 1", at(a.SrcRange), queue)
		return false
	}
	if ref, ok := count.(*hclsyntax.ScopeTraversalExpr); ok && ref.Traversal.RootName() == "var" {
		if v := m.variables[attrAt(ref.Traversal, 1)]; v != nil && hasBlock(v.Body, "validation") {
			return true
		}
	}
	m.fail(defect, "%s: %s maxReceiveCount must be a positive number or a validated variable", at(a.SrcRange), queue)
	return false
}

func hasBlock(body *hclsyntax.Body, typ string) bool {
	return slices.ContainsFunc(body.Blocks, func(b *hclsyntax.Block) bool { return b.Type == typ })
}

// --- tags ----------------------------------------------------------------------------------

func (m *module) checkTags() {
	m.checkRequiredTagsLocal()
	awsProviders := 0
	for _, p := range m.providers {
		if p.Labels[0] != "aws" {
			continue
		}
		awsProviders++
		m.checkDefaultTags(p)
	}
	if awsProviders == 0 {
		m.fail(defect, "no provider \"aws\" block: default_tags have nowhere to live")
	}
	for key, b := range m.resources {
		if !strings.HasPrefix(key, "aws_") {
			continue
		}
		m.checkNoOverride(key, b)
		switch b.Labels[0] {
		case "aws_autoscaling_group":
			m.checkASGTags(key, b)
		case "aws_launch_template":
			m.checkLaunchTemplateTags(key, b)
		}
	}
}

// checkRequiredTagsLocal: local.required_tags is an object literal with every
// required key, and local.tags merges it last, so nothing overrides it.
func (m *module) checkRequiredTagsLocal() {
	req := m.locals["required_tags"]
	if req == nil {
		m.fail(defect, "local.required_tags is not declared")
		return
	}
	keys, ok := m.objectKeys(req.Expr)
	for _, k := range requiredTagKeys {
		if !ok || !keys[k] {
			m.fail(defect, "%s: local.required_tags lacks the %s tag", at(req.SrcRange), k)
		}
	}
	tags := m.locals["tags"]
	if tags == nil {
		m.fail(defect, "local.tags is not declared")
		return
	}
	call, ok := tags.Expr.(*hclsyntax.FunctionCallExpr)
	if !ok || call.Name != "merge" || len(call.Args) == 0 || !refersTo(call.Args[len(call.Args)-1], "local", "required_tags") {
		m.fail(defect, "%s: local.tags must be merge(..., local.required_tags) so the required tags win", at(tags.SrcRange))
	}
}

func (m *module) checkDefaultTags(p *hclsyntax.Block) {
	for _, b := range p.Body.Blocks {
		if b.Type == "default_tags" {
			if a := b.Body.Attributes["tags"]; a != nil && refersTo(a.Expr, "local", "tags") {
				return
			}
		}
	}
	m.fail(defect, "%s: provider \"aws\" must have default_tags { tags = local.tags }", at(p.DefRange()))
}

// checkNoOverride: a resource's own tags may add tags but not replace a required one.
func (m *module) checkNoOverride(key string, b *hclsyntax.Block) {
	hclsyntax.VisitAll(b.Body, func(n hclsyntax.Node) hcl.Diagnostics {
		obj, ok := n.(*hclsyntax.ObjectConsExpr)
		if !ok {
			return nil
		}
		for _, item := range obj.Items {
			if k, ok := objectKey(item); ok && slices.Contains(requiredTagKeys, k) {
				m.fail(defect, "%s: %s sets the required tag %s itself; it comes from local.tags", at(item.KeyExpr.Range()), key, k)
			}
		}
		return nil
	})
}

// checkASGTags: default_tags do not reach an Auto Scaling group or what it
// launches, so it needs tag blocks over local.tags that propagate at launch.
func (m *module) checkASGTags(key string, b *hclsyntax.Block) {
	if _, ok := b.Body.Attributes["tags"]; ok {
		m.fail(defect, "%s: %s uses `tags`, which aws_autoscaling_group does not have in provider 5.x; use tag blocks", at(b.DefRange()), key)
	}
	covered := map[string]bool{}
	for _, tb := range b.Body.Blocks {
		switch {
		case tb.Type == "dynamic" && tb.Labels[0] == "tag":
			fe := tb.Body.Attributes["for_each"]
			content := firstBlock(tb.Body, "content")
			if fe == nil || content == nil || !refersTo(fe.Expr, "local", "tags") {
				continue
			}
			if propagates(content.Body) {
				for _, k := range requiredTagKeys {
					covered[k] = true
				}
			}
		case tb.Type == "tag":
			if k := tb.Body.Attributes["key"]; k != nil && propagates(tb.Body) {
				if v, diags := k.Expr.Value(nil); !diags.HasErrors() && v.Type() == cty.String {
					covered[v.AsString()] = true
				}
			}
		}
	}
	for _, k := range requiredTagKeys {
		if !covered[k] {
			m.fail(defect, "%s: %s does not propagate the %s tag at launch (dynamic \"tag\" over local.tags with propagate_at_launch = true)", at(b.DefRange()), key, k)
		}
	}
}

func propagates(body *hclsyntax.Body) bool {
	a := body.Attributes["propagate_at_launch"]
	if a == nil {
		return false
	}
	v, diags := a.Expr.Value(nil)
	return !diags.HasErrors() && v.Type() == cty.Bool && v.True()
}

// checkLaunchTemplateTags: instances and volumes launched from a template get
// no default_tags; tag_specifications must give them local.tags.
func (m *module) checkLaunchTemplateTags(key string, b *hclsyntax.Block) {
	tagged := map[string]bool{}
	for _, ts := range b.Body.Blocks {
		if ts.Type != "tag_specifications" {
			continue
		}
		rt, tags := ts.Body.Attributes["resource_type"], ts.Body.Attributes["tags"]
		if rt == nil || tags == nil || !refersTo(tags.Expr, "local", "tags") {
			continue
		}
		if v, diags := rt.Expr.Value(nil); !diags.HasErrors() && v.Type() == cty.String {
			tagged[v.AsString()] = true
		}
	}
	for _, rt := range []string{"instance", "volume"} {
		if !tagged[rt] {
			m.fail(defect, "%s: %s has no tag_specifications for %q with local.tags", at(b.DefRange()), key, rt)
		}
	}
}

func firstBlock(body *hclsyntax.Body, typ string) *hclsyntax.Block {
	for _, b := range body.Blocks {
		if b.Type == typ {
			return b
		}
	}
	return nil
}

// refersTo reports whether expr references root.name (e.g. local.tags).
func refersTo(expr hclsyntax.Expression, root, name string) bool {
	return slices.ContainsFunc(hclsyntax.Variables(expr), func(t hcl.Traversal) bool {
		return t.RootName() == root && attrAt(t, 1) == name
	})
}

// --- variables and outputs --------------------------------------------------------------------

// checkVariables: every variable has a type and a description, and every
// variable that is not a plain bool switch has a validation block.
func (m *module) checkVariables() {
	for name, b := range m.variables {
		typ := b.Body.Attributes["type"]
		if typ == nil {
			m.fail(defect, "%s: variable %s has no type", at(b.DefRange()), name)
		}
		if !hasDescription(b.Body) {
			m.fail(defect, "%s: variable %s has no description", at(b.DefRange()), name)
		}
		if typ != nil && hcl.ExprAsKeyword(typ.Expr) == "bool" {
			continue
		}
		if !hasBlock(b.Body, "validation") {
			m.fail(defect, "%s: variable %s has no validation block", at(b.DefRange()), name)
		}
		for _, v := range b.Body.Blocks {
			if v.Type == "validation" && (v.Body.Attributes["condition"] == nil || v.Body.Attributes["error_message"] == nil) {
				m.fail(defect, "%s: a validation of variable %s lacks condition or error_message", at(v.DefRange()), name)
			}
		}
	}
}

func (m *module) checkOutputs() {
	for _, body := range m.files {
		for _, b := range body.Blocks {
			if b.Type == "output" && !hasDescription(b.Body) {
				m.fail(defect, "%s: output %s has no description", at(b.DefRange()), b.Labels[0])
			}
		}
	}
}

func hasDescription(body *hclsyntax.Body) bool {
	a := body.Attributes["description"]
	if a == nil {
		return false
	}
	v, diags := a.Expr.Value(nil)
	return !diags.HasErrors() && v.Type() == cty.String && strings.TrimSpace(v.AsString()) != ""
}

// --- nomad/ job files -----------------------------------------------------------------------------

// checkNomadJobFiles: the files the README's runbook uses exist and the
// README names them.
func (m *module) checkNomadJobFiles() {
	readme, err := os.ReadFile(filepath.Join(m.dir, "README.md"))
	if err != nil {
		m.fail(defect, "read README.md: %v", err)
	}
	for _, f := range nomadRunbookFiles {
		if !strings.Contains(string(readme), f) {
			m.fail(defect, "README.md does not tell how to run nomad/%s", f)
		}
		if _, err := os.Stat(filepath.Join(m.nomadDir, f)); err != nil {
			m.fail(missingNomad, "nomad/%s: %v", f, err)
		}
	}
}

// nodeGroup is a Nomad client node group of local.client_groups.
type nodeGroup struct{ pool, class string }

// nodeGroups reads node_pool and node_class of each entry of local.client_groups.
func (m *module) nodeGroups() map[string]nodeGroup {
	groups := map[string]nodeGroup{}
	a := m.locals["client_groups"]
	if a == nil {
		return groups
	}
	obj, ok := a.Expr.(*hclsyntax.ObjectConsExpr)
	if !ok {
		return groups
	}
	for _, item := range obj.Items {
		name, ok := objectKey(item)
		body, isObj := item.ValueExpr.(*hclsyntax.ObjectConsExpr)
		if !ok || !isObj {
			continue
		}
		var g nodeGroup
		for _, field := range body.Items {
			k, _ := objectKey(field)
			v, diags := field.ValueExpr.Value(nil)
			if diags.HasErrors() || v.Type() != cty.String {
				continue
			}
			switch k {
			case "node_pool":
				g.pool = v.AsString()
			case "node_class":
				g.class = v.AsString()
			}
		}
		if g.pool != "" && g.class != "" {
			groups[name] = g
		}
	}
	return groups
}

func messages(ps []problem, kind problemKind) []string {
	var out []string
	for _, p := range ps {
		if p.kind == kind {
			out = append(out, p.msg)
		}
	}
	sort.Strings(out)
	return out
}
