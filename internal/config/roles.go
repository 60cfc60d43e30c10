package config

import (
	"fmt"
	"regexp"
)

// IAM's rules for what AssumeRole takes: a role ARN with an optional path
// and a name of up to 64 characters, and an external ID of 2 to 1,224.
var (
	roleARN    = regexp.MustCompile(`^arn:(aws|aws-cn|aws-us-gov):iam::([0-9]{12}):role/([\x21-\x7e]{0,510}/)?[\w+=,.@-]{1,64}$`)
	externalID = regexp.MustCompile(`^[\w+=,.@:/-]+$`) // 2 to 1,224 of them
)

// checkRole says what is wrong with a role, or "" and the role's account.
// A role with neither field is none.
func checkRole(ps *problems, path string, r Role) (account string) {
	if r.ARN == "" {
		if r.ExternalID != "" {
			ps.add(path+".externalId", "needs roleArn: an external ID goes with the role it is for")
		}
		return ""
	}
	m := roleARN.FindStringSubmatch(r.ARN)
	if m == nil {
		ps.add(path+".roleArn", "must be an IAM role ARN such as arn:aws:iam::111122223333:role/tgsync")
	}
	if n := len(r.ExternalID); n > 0 && (n < 2 || n > 1224 || !externalID.MatchString(r.ExternalID)) {
		ps.add(path+".externalId", "must be 2 to 1224 letters, digits or any of _+=,.@:/-")
	}
	if m == nil {
		return ""
	}
	return m[2]
}

// checkRoles checks the roles of the bindings and the Spot drain. ELB has
// no resource policies, so a role reaches only target groups of its own
// account; and a target group is reached one way, since its adapter keeps
// what it learns of the group.
func (c *Config) checkRoles(ps *problems) {
	type use struct {
		path string
		role Role
	}
	first := map[string]use{} // by target group ARN
	seen := func(path string, r Role, account, group string) {
		if account != "" {
			if a, msg := parseARN(group); msg == "" && a.Account != account {
				ps.add(path+".roleArn", "must be a role in the account of the target group: a role reaches only target groups of its own account")
			}
		}
		if group == "" {
			return
		}
		if f, ok := first[group]; ok {
			if f.role != r {
				ps.add(path+".roleArn", fmt.Sprintf("must be the role (and external ID) of %s, which uses the same target group: a target group is reached one way", f.path))
			}
			return
		}
		first[group] = use{path, r}
	}
	for i, b := range c.Bindings {
		path := index("bindings", i)
		seen(path, b.Role, checkRole(ps, path, b.Role), b.TargetGroupARN)
	}
	if s := c.SpotDrain; s != nil {
		account := checkRole(ps, "spotDrain", s.Role)
		for _, g := range s.TargetGroupARNs {
			seen("spotDrain", s.Role, account, g)
		}
	}
}
