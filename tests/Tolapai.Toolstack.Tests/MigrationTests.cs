using System.Globalization;
using System.Text.Json;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.Toolstack;
using Tolapai.Xen.XenStore;

namespace Tolapai.Toolstack.Tests;

/// <summary>
/// Suspend/resume, cold and live migration between two dom0 processes, and a dom0 that dies
/// and comes back, each with a real guest process running the CPA cipher sample through the
/// ixp split driver the whole time: every request it submitted completes exactly once, with
/// output checked against the reference cipher (the guest's own verification), and nothing is
/// left half-built on either host.
/// </summary>
[Collection(MultiProcessCollection.Name)]
public sealed class MigrationTests
{
    /// <summary>SIGUSR1: what ends a <c>domu perf --until-stopped</c> workload.</summary>
    private const int StopWorkloadSignal = 10;

    /// <summary>
    /// The guest's workload: held until the test stops it (<see cref="StopAndVerifyAsync"/>), never
    /// ended by a clock that keeps running while the guest is suspended and the test starts CLIs.
    /// </summary>
    private static string[] Workload(string result) =>
        ["perf", "--result", result, "--sizes", "1024", "--depth", "32", "--warmup", "50", "--until-stopped"];

    private static async Task<(ushort DomId, string Result, string Log)> StartGuestAsync(Dom0Process dom0, string name)
    {
        string result = Path.Combine(dom0.RunDirectory, name + ".json");
        ushort id = await Cli.CreateAsync(dom0.RunDirectory, ["--name", name], [.. Cli.Domu, .. Workload(result)]);
        string log = RunDirectories.GuestLogPath(dom0.RunDirectory, id);
        await Wait.FileContainsAsync(log, "ixp connected");
        return (id, result, log);
    }

    /// <summary>Ends the held workload of guest <paramref name="id"/> on <paramref name="host"/> and reads its verified result.</summary>
    private static async Task<JsonElement> StopAndVerifyAsync(Dom0Process host, ushort id, string result, string log)
    {
        DomainInfo guest;
        using (Host h = Host.Open(host.RunDirectory))
        {
            guest = h.Lookup(id) ?? throw new Xunit.Sdk.XunitException($"domain {id} is not on {host.RunDirectory}; its log: {TryRead(log)}");
        }

        Assert.True(Signals.Send(guest.Pid, guest.StartTime, StopWorkloadSignal), $"the guest (pid {guest.Pid}) is gone; its log: {TryRead(log)}");
        return await VerifiedResultAsync(result, log);
    }

    /// <summary>Reads the guest's result: every request completed once, every output verified.</summary>
    private static async Task<JsonElement> VerifiedResultAsync(string result, string log)
    {
        long deadline = Environment.TickCount64 + 120_000;
        while (!File.Exists(result))
        {
            Assert.True(Environment.TickCount64 < deadline, $"no result from the guest; its log: {TryRead(log)}");
            await Task.Delay(50);
        }

        using JsonDocument doc = JsonDocument.Parse(await File.ReadAllTextAsync(result));
        JsonElement root = doc.RootElement.Clone();
        Assert.True(root.GetProperty("lost").GetInt64() == 0, $"lost requests: {root}");
        Assert.True(root.GetProperty("duplicates").GetInt64() == 0, $"duplicate completions: {root}");
        Assert.Equal(root.GetProperty("requests").GetInt64(), root.GetProperty("completed").GetInt64());
        foreach (JsonElement size in root.GetProperty("report").GetProperty("results").EnumerateArray())
        {
            Assert.True(size.GetProperty("verified").GetBoolean(), $"not verified: {size}");
            Assert.Equal(0, size.GetProperty("failures").GetInt64());
            Assert.True(size.GetProperty("ops").GetInt64() > 0);
        }

        return root;
    }

    private static string TryRead(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return "(none)";
        }
    }

    private static ShutdownReason? GuestShutdown(string runDir, ushort id)
    {
        using Host host = Host.Open(runDir);
        return host.Lookup(id)?.Shutdown;
    }

    private static async Task<string[]> DomainsAsync(string runDir)
    {
        CliResult r = await Cli.OkAsync(runDir, "xl", "list");
        return [.. r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0])];
    }

    [Fact]
    public async Task Cold_and_live_migration_back_and_forth_under_load_lose_nothing()
    {
        await using Dom0Process a = await Dom0Process.StartWithAcceleratorAsync();
        await using Dom0Process b = await Dom0Process.StartWithAcceleratorAsync();
        (ushort id, string result, string log) = await StartGuestAsync(a, "mover");
        Dom0Process[] hosts = [a, b];
        int at = 0;
        string[] kinds = ["cold", "live", "cold", "live"];
        foreach (string kind in kinds)
        {
            Dom0Process from = hosts[at], to = hosts[1 - at];
            string[] args = kind == "live"
                ? ["xl", "migrate", "--run-dir", from.RunDirectory, "--live", id.ToString(CultureInfo.InvariantCulture), "--to", to.RunDirectory]
                : ["xl", "migrate", "--run-dir", from.RunDirectory, id.ToString(CultureInfo.InvariantCulture), "--to", to.RunDirectory];
            CliResult r = await Cli.RunAsync(null, args);
            Assert.True(r.ExitCode == 0, $"{r}; the guest's log: {TryRead(log)}");
            id = ushort.Parse(r.Stdout.Trim(), CultureInfo.InvariantCulture);
            Assert.Contains(kind == "live" ? "(live)" : "(cold)", r.Stderr, StringComparison.Ordinal);
            Assert.Contains("downtime", r.Stderr, StringComparison.Ordinal);
            // The source released it; the destination has it, under its name.
            Assert.DoesNotContain("mover", await DomainsAsync(from.RunDirectory));
            Assert.Contains("mover", await DomainsAsync(to.RunDirectory));
            at = 1 - at;
        }

        JsonElement root = await StopAndVerifyAsync(hosts[at], id, result, log);
        Assert.True(root.GetProperty("requests").GetInt64() > 0);
        string console = TryRead(log);
        Assert.Equal(kinds.Length, console.Split('\n').Count(l => l.StartsWith("domu: resumed (suspend)", StringComparison.Ordinal)));
        Assert.DoesNotContain(Directory.EnumerateFiles(a.RunDirectory, "*.migrate.lock"), FileLock.IsHeld);
    }

    [Fact]
    public async Task Suspend_and_resume_in_place_with_requests_in_flight()
    {
        await using Dom0Process a = await Dom0Process.StartWithAcceleratorAsync();
        (ushort id, string result, string log) = await StartGuestAsync(a, "sleeper");
        string domid = id.ToString(CultureInfo.InvariantCulture);
        await Cli.OkAsync(a.RunDirectory, "xl", "suspend", domid);
        using (Host host = Host.Open(a.RunDirectory))
        {
            Assert.Equal(ShutdownReason.Suspend, host.Lookup(id)!.Value.Shutdown);
        }

        await Task.Delay(300); // suspended for a while: the guest's submissions are refused with Restarting, its requests kept
        CliResult again = await Cli.RunAsync(a.RunDirectory, "xl", "resume", "7");
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("domain 7 does not exist", again.Stderr, StringComparison.Ordinal);
        await Cli.OkAsync(a.RunDirectory, "xl", "resume", domid);
        using (Host host = Host.Open(a.RunDirectory))
        {
            Assert.Equal(ShutdownReason.None, host.Lookup(id)!.Value.Shutdown);
        }

        CliResult notSuspended = await Cli.RunAsync(a.RunDirectory, "xl", "resume", domid);
        Assert.Equal(1, notSuspended.ExitCode);
        Assert.Contains("not suspended", notSuspended.Stderr, StringComparison.Ordinal);
        await StopAndVerifyAsync(a, id, result, log);
        string console = TryRead(log);
        Assert.True(console.Contains("domu: resumed (suspend) on " + a.RunDirectory + " as domain " + domid, StringComparison.Ordinal), console);
    }

    [Fact]
    public async Task A_guest_rides_through_its_dom0_killed_and_restarted_under_load()
    {
        string dir = Dom0Process.NewRunDirectory();
        await using Dom0Process first = await Dom0Process.StartWithAcceleratorAsync(dir);
        (ushort id, string result, string log) = await StartGuestAsync(first, "survivor");
        await Task.Delay(300);
        await first.KillAsync(); // SIGKILL: no clean-up, xenstored and the backend gone with it
        // The guest must notice the death before a new dom0 is up (it tells a dead dom0 from a
        // disconnect by dom0's liveness): wait until it has suspended itself, holding its requests.
        await Wait.UntilAsync(() => Task.FromResult(GuestShutdown(dir, id) == ShutdownReason.Suspend), "the guest to notice its dom0 died and suspend");
        await using Dom0Process second = await Dom0Process.StartWithAcceleratorAsync(dir);
        await second.StderrContainsAsync("adopted guest domain " + id.ToString(CultureInfo.InvariantCulture));
        await StopAndVerifyAsync(second, id, result, log);
        Assert.Contains("domu: resumed (dom0 died)", TryRead(log), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_migrations_are_refused_and_change_nothing()
    {
        await using Dom0Process a = await Dom0Process.StartWithAcceleratorAsync();
        await using Dom0Process b = await Dom0Process.StartAsync();
        (ushort id, string result, string log) = await StartGuestAsync(a, "stayer");
        string domid = id.ToString(CultureInfo.InvariantCulture);

        CliResult missing = await Cli.RunAsync(null, "xl", "migrate", "--run-dir", a.RunDirectory, "9", "--to", b.RunDirectory);
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("domain 9 does not exist", missing.Stderr, StringComparison.Ordinal);

        string nowhere = Dom0Process.NewRunDirectory();
        CliResult noDom0 = await Cli.RunAsync(null, "xl", "migrate", "--run-dir", a.RunDirectory, domid, "--to", nowhere);
        Assert.Equal(1, noDom0.ExitCode);
        Assert.Contains("no dom0 running on " + nowhere, noDom0.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(nowhere));

        CliResult same = await Cli.RunAsync(null, "xl", "migrate", "--run-dir", a.RunDirectory, domid, "--to", a.RunDirectory + "/");
        Assert.Equal(2, same.ExitCode);
        Assert.Contains("already on", same.Stderr, StringComparison.Ordinal);

        CliResult noTo = await Cli.RunAsync(null, "xl", "migrate", "--run-dir", a.RunDirectory, domid);
        Assert.Equal(2, noTo.ExitCode);
        Assert.Contains("--to", noTo.Stderr, StringComparison.Ordinal);

        using (FileLock held = FileLock.TryAcquire(DomainToolstack.MigrationLockPath(a.RunDirectory, id))!)
        {
            CliResult busy = await Cli.RunAsync(null, "xl", "migrate", "--run-dir", a.RunDirectory, domid, "--to", b.RunDirectory);
            Assert.Equal(1, busy.ExitCode);
            Assert.Contains("a migration of domain " + domid + " is already running", busy.Stderr, StringComparison.Ordinal);
        }

        // A guest that cannot suspend (not a Xen-aware kernel: no control/feature-suspend).
        ushort plain = await Cli.CreateAsync(a.RunDirectory, ["--name", "plain", "--no-device"], ["/bin/sleep", "60"]);
        CliResult cannot = await Cli.RunAsync(null, "xl", "migrate", "--run-dir", a.RunDirectory, plain.ToString(CultureInfo.InvariantCulture), "--to", b.RunDirectory);
        Assert.Equal(1, cannot.ExitCode);
        Assert.Contains("cannot suspend", cannot.Stderr, StringComparison.Ordinal);

        // Nothing changed: b has only its dom0, the guest still runs on a and finishes verified.
        Assert.Equal(["Domain-0"], await DomainsAsync(b.RunDirectory));
        Assert.Contains("stayer", await DomainsAsync(a.RunDirectory));
        await StopAndVerifyAsync(a, id, result, log);
        Assert.DoesNotContain("domu: resumed", TryRead(log), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_destination_backend_that_offers_less_is_refused_and_one_that_offers_other_features_is_renegotiated()
    {
        await using Dom0Process a = await Dom0Process.StartWithAcceleratorAsync();
        await using Dom0Process small = await Dom0Process.StartWithAcceleratorAsync(null, "--max-ring-page-order", "0");
        await using Dom0Process none = await Dom0Process.StartAsync();
        await using Dom0Process mapping = await Dom0Process.StartWithAcceleratorAsync(null, "--no-persistent");
        (ushort id, string result, string log) = await StartGuestAsync(a, "picky");
        string domid = id.ToString(CultureInfo.InvariantCulture);

        // No persistent grants there: the frontend keeps its grants, the backend maps them per request.
        CliResult there = await Cli.RunAsync(null, "xl", "migrate", "--run-dir", a.RunDirectory, "--live", domid, "--to", mapping.RunDirectory);
        Assert.True(there.ExitCode == 0, $"{there}; the guest's log: {TryRead(log)}");
        ushort moved = ushort.Parse(there.Stdout.Trim(), CultureInfo.InvariantCulture);
        await using (XenStoreClient xs = await mapping.ConnectAsync())
        {
            Assert.Equal("0", await xs.ReadStringAsync(Xen.Xenbus.XenbusPaths.Key(Xen.Xenbus.XenbusPaths.Backend(moved, "ixp", 0), "feature-persistent")));
        }

        CliResult back = await Cli.RunAsync(null, "xl", "migrate", "--run-dir", mapping.RunDirectory, moved.ToString(CultureInfo.InvariantCulture), "--to", a.RunDirectory);
        Assert.True(back.ExitCode == 0, $"{back}; the guest's log: {TryRead(log)}");
        domid = back.Stdout.Trim(); // its domid on a now

        // The guest's ring is 2^2 pages: a backend offering 2^0 cannot take its requests in flight.
        CliResult tooSmall = await Cli.RunAsync(null, "xl", "migrate", "--run-dir", a.RunDirectory, domid, "--to", small.RunDirectory);
        Assert.Equal(1, tooSmall.ExitCode);
        Assert.Contains("max-ring-page-order", tooSmall.Stderr, StringComparison.Ordinal);
        Assert.Equal(["Domain-0"], await DomainsAsync(small.RunDirectory));

        CliResult noBackend = await Cli.RunAsync(null, "xl", "migrate", "--run-dir", a.RunDirectory, domid, "--to", none.RunDirectory);
        Assert.Equal(1, noBackend.ExitCode);
        Assert.Contains("has no ixp backend", noBackend.Stderr, StringComparison.Ordinal);
        Assert.Equal(["Domain-0"], await DomainsAsync(none.RunDirectory));

        await StopAndVerifyAsync(a, ushort.Parse(domid, CultureInfo.InvariantCulture), result, log);
    }

    [Fact]
    public async Task A_destination_that_dies_mid_migration_leaves_the_guest_running_on_the_source()
    {
        await using Dom0Process a = await Dom0Process.StartWithAcceleratorAsync();
        Dom0Process b = await Dom0Process.StartWithAcceleratorAsync();
        (ushort id, string result, string log) = await StartGuestAsync(a, "homebody");
        await using DomainToolstack source = await DomainToolstack.OpenAsync(a.RunDirectory);
        await using (b)
        {
            await using DomainToolstack destination = await DomainToolstack.OpenAsync(b.RunDirectory);
            var options = new MigrationOptions
            {
                Live = true,
                // Between the final copy and building the domain there: the destination host dies.
                Log = line =>
                {
                    if (line.StartsWith("suspended; final copy", StringComparison.Ordinal))
                        b.KillAsync().GetAwaiter().GetResult();
                },
            };
            ToolstackException e = await Assert.ThrowsAsync<ToolstackException>(() => source.MigrateAsync(id, destination, options));
            Assert.Contains(b.RunDirectory, e.Message, StringComparison.Ordinal);
        }

        // Resumed where it was: still domain id on a, not suspended, and it completes everything.
        await StopAndVerifyAsync(a, id, result, log);
        Assert.Contains("domu: resumed (suspend) on " + a.RunDirectory + " as domain " + id.ToString(CultureInfo.InvariantCulture), TryRead(log), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_guest_that_dies_during_a_live_migration_leaves_no_domain_on_the_destination()
    {
        await using Dom0Process a = await Dom0Process.StartWithAcceleratorAsync();
        await using Dom0Process b = await Dom0Process.StartWithAcceleratorAsync();
        (ushort id, _, _) = await StartGuestAsync(a, "doomed");
        DomainInfo guest;
        using (Host host = Host.Open(a.RunDirectory))
        {
            guest = host.Lookup(id)!.Value;
        }

        await using DomainToolstack source = await DomainToolstack.OpenAsync(a.RunDirectory);
        await using DomainToolstack destination = await DomainToolstack.OpenAsync(b.RunDirectory);
        var options = new MigrationOptions
        {
            Live = true,
            Log = line =>
            {
                if (line.StartsWith("round 1", StringComparison.Ordinal))
                {
                    Signals.Send(guest.Pid, guest.StartTime, Signals.SigKill);
                    while (ProcessIdentity.IsAlive(guest.Pid, guest.StartTime))
                        Thread.Sleep(5);
                }
            },
        };
        await Assert.ThrowsAsync<ToolstackException>(() => source.MigrateAsync(id, destination, options));
        Assert.Equal(["Domain-0"], await DomainsAsync(b.RunDirectory));
        await using XenStoreClient xs = await b.ConnectAsync();
        Assert.Equal(["0"], await xs.DirectoryAsync("/local/domain"));
        Assert.DoesNotContain(Directory.EnumerateFiles(b.RunDirectory, "dom*.mem"), f => !f.EndsWith("dom0.mem", StringComparison.Ordinal));
    }
}
