package main_test

// Every built-in language profile, end to end as an ordinary user: a
// hello-world that reads stdin, a program that does not compile (verdict
// CE, or RE for interpreted languages whose only step is the run), and a
// program that fails at run time (RE).

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/internal/testutil"
	"jail/profiles"
)

type language struct {
	profile            string
	hello, broken, bad string // source files
	brokenVerdict      string
}

var languages = []language{
	{"python3", "print('hello', input())\n", "print('unclosed'\n", "import sys\nsys.exit(7)\n", "RE"},
	{"c", "#include <stdio.h>\nint main(void){char s[64]; scanf(\"%63s\", s); printf(\"hello %s\\n\", s); return 0;}\n",
		"int main(void){ return undefined; }\n", "int main(void){ return 7; }\n", "CE"},
	{"cpp", "#include <iostream>\n#include <string>\nint main(){std::string s; std::cin >> s; std::cout << \"hello \" << s << \"\\n\";}\n",
		"int main(){ return undefined; }\n", "int main(){ return 7; }\n", "CE"},
	{"go", "package main\nimport \"fmt\"\nfunc main(){ var s string; fmt.Scan(&s); fmt.Println(\"hello\", s) }\n",
		"package main\nfunc main(){ undefined() }\n", "package main\nimport \"os\"\nfunc main(){ os.Exit(7) }\n", "CE"},
	{"node", "const s = require('fs').readFileSync(0, 'utf8').trim(); console.log('hello', s);\n",
		"console.log('unclosed'\n", "process.exit(7);\n", "RE"},
	{"java", "import java.util.Scanner;\npublic class Main { public static void main(String[] a) { System.out.println(\"hello \" + new Scanner(System.in).next()); } }\n",
		"public class Main { public static void main(String[] a) { undefined(); } }\n",
		"public class Main { public static void main(String[] a) { System.exit(7); } }\n", "CE"},
}

func TestLanguageProfiles(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	for _, lang := range languages {
		t.Run(lang.profile, func(t *testing.T) {
			p, err := profiles.Builtin(lang.profile)
			require.NoError(t, err)
			if missing := p.Missing(p.HostLookPath()); len(missing) > 0 {
				testutil.Skip(t, "profile %s needs %v on this host", lang.profile, missing)
			}
			src := func(name, content string) string {
				file := "src-" + lang.profile + "-" + name
				if p.SourceName != "" {
					file = lang.profile + "-" + name + "/" + p.SourceName
				}
				return j.Fixture(t, file, content, 0o644)
			}

			r := j.RunWith(t, testutil.Opts{Stdin: strings.NewReader("world\n")},
				"run", "--profile", lang.profile, "--", src("hello", lang.hello))
			require.NotNil(t, r.Report, r.String())
			assert.Equal(t, "OK", r.Report.Verdict, r.String())
			assert.Equal(t, "hello world\n", r.Stdout)

			r = j.Run(t, "run", "--profile", lang.profile, "--", src("broken", lang.broken))
			require.NotNil(t, r.Report, r.String())
			assert.Equal(t, lang.brokenVerdict, r.Report.Verdict, r.String())
			assert.NotZero(t, r.ExitCode)
			assert.NotEmpty(t, r.Stderr, "the compiler's or interpreter's message reaches the user")

			r = j.Run(t, "run", "--profile", lang.profile, "--", src("bad", lang.bad))
			require.NotNil(t, r.Report, r.String())
			assert.Equal(t, "RE", r.Report.Verdict, r.String())
			assert.Equal(t, 7, r.ExitCode)
		})
	}
}

// TestProfileFlagsOverride checks that a flag the user sets beats the
// profile's value, and that a missing toolchain is a clear error.
func TestProfileFlagsOverride(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	// strict sets --wall 10s; the flag lowers it.
	r := j.Run(t, "run", "--profile", "strict", "--wall", "300ms", "--strict=false", "--", "/bin/sleep", "5")
	require.NotNil(t, r.Report, r.String())
	assert.Equal(t, "TLE", r.Report.Verdict, r.String())
	assert.Equal(t, "wall", r.Report.LimitHit)

	// The effective configuration is printable, and shows the override.
	r = j.Run(t, "run", "--profile", "strict", "--wall", "1s", "--print-config", "--", "/bin/true")
	require.Equal(t, 0, r.ExitCode, r.String())
	assert.Contains(t, r.Stdout, `"wall": "1s"`)
	assert.Contains(t, r.Stdout, `"seccomp": "strict"`)
	assert.Contains(t, r.Stdout, `"mem": 268435456`)
	assert.Nil(t, r.Report, "--print-config runs nothing")

	prof := j.Fixture(t, "needs.toml", "description = \"x\"\nsource_name = \"x.src\"\nrequires = [\"no-such-compiler\"]\n[run]\ncommand = [\"{source}\"]\n", 0o644)
	src := j.Fixture(t, "x.src", "x", 0o644)
	r = j.Run(t, "run", "--profile", prof, "--", src)
	assert.Equal(t, 125, r.ExitCode, r.String())
	assert.Contains(t, r.Stderr, "no-such-compiler")
}
