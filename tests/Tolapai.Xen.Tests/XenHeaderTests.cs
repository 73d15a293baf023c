using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Tolapai.Xen.GrantTable;
using Tolapai.Xen.Memory;
using Tolapai.Xen.Ring;
using Tolapai.Xen.TestChild;
using Xunit.Abstractions;

namespace Tolapai.Xen.Tests;

/// <summary>
/// A fact that needs gcc and Xen's public headers (Debian's libxen-dev, which .ci/run installs);
/// skipped, with the reason, where they are missing.
/// </summary>
public sealed class XenHeadersFactAttribute : FactAttribute
{
    public XenHeadersFactAttribute()
    {
        if (!File.Exists("/usr/include/xen/io/ring.h") || !File.Exists("/usr/include/xen/grant_table.h"))
        {
            Skip = "Xen's public headers are not installed (apt-get install libxen-dev)";
        }
        else if (XenAbiProgram.Gcc is null)
        {
            Skip = "gcc is not installed";
        }
    }
}

/// <summary>Compiles C/xen_abi.c once per test run.</summary>
public static class XenAbiProgram
{
    private static readonly Lazy<string> Built = new(Build);

    public static string? Gcc => new[] { "/usr/bin/gcc", "/usr/bin/cc", "/usr/local/bin/gcc" }.FirstOrDefault(File.Exists);

    public static string Path => Built.Value;

    private static string Build()
    {
        string dir = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "tolapai-xen-abi-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
            }
        };
        string exe = System.IO.Path.Combine(dir, "xen_abi");
        ProcessStartInfo psi = new(Gcc!) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string a in new[] { "-O2", "-Wall", "-Werror", "-o", exe, System.IO.Path.Combine(AppContext.BaseDirectory, "C", "xen_abi.c") })
        {
            psi.ArgumentList.Add(a);
        }

        using Process p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, "gcc failed:\n" + err);
        return exe;
    }
}

/// <summary>Our structures against a C program built on Xen's own io/ring.h and grant_table.h.</summary>
[Collection(MultiProcessCollection.Name)] // spins a C process against this one: not beside the other spinning tests
public sealed unsafe class XenHeaderTests(ITestOutputHelper output)
{
    private static Dictionary<string, long> CLayout()
    {
        ProcessStartInfo psi = new(XenAbiProgram.Path, "layout") { RedirectStandardOutput = true };
        using Process p = Process.Start(psi)!;
        string text = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
        return text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split('='))
            .ToDictionary(kv => kv[0], kv => long.Parse(kv[1], CultureInfo.InvariantCulture));
    }

    [XenHeadersFact]
    public void Offsets_sizes_and_constants_match_xen_public_headers()
    {
        Dictionary<string, long> c = CLayout();
        Dictionary<string, long> ours = new()
        {
            ["sring.req_prod"] = Marshal.OffsetOf<SharedRingHeader>(nameof(SharedRingHeader.ReqProd)),
            ["sring.req_event"] = Marshal.OffsetOf<SharedRingHeader>(nameof(SharedRingHeader.ReqEvent)),
            ["sring.rsp_prod"] = Marshal.OffsetOf<SharedRingHeader>(nameof(SharedRingHeader.RspProd)),
            ["sring.rsp_event"] = Marshal.OffsetOf<SharedRingHeader>(nameof(SharedRingHeader.RspEvent)),
            ["sring.pvt"] = Marshal.OffsetOf<SharedRingHeader>(nameof(SharedRingHeader.Pvt)),
            ["sring.pad"] = Marshal.OffsetOf<SharedRingHeader>(nameof(SharedRingHeader.Pad)),
            ["sring.ring"] = SharedRingHeader.EntriesOffset,
            ["tr.entry"] = SharedRing.EntrySize<TestRequest, TestResponse>(),
            ["tr.size.1"] = SharedRing.RingSize(4096, SharedRing.EntrySize<TestRequest, TestResponse>()),
            ["tr.size.4"] = SharedRing.RingSize(4 * 4096, SharedRing.EntrySize<TestRequest, TestResponse>()),
            ["b112.size.1"] = SharedRing.RingSize(4096, 112),
            ["n12.size.1"] = SharedRing.RingSize(4096, 12),
            ["gnt.flags"] = Marshal.OffsetOf<GrantEntryV1>(nameof(GrantEntryV1.Flags)),
            ["gnt.domid"] = Marshal.OffsetOf<GrantEntryV1>(nameof(GrantEntryV1.DomId)),
            ["gnt.frame"] = Marshal.OffsetOf<GrantEntryV1>(nameof(GrantEntryV1.Frame)),
            ["gnt.size"] = Unsafe.SizeOf<GrantEntryV1>(),
            ["GTF_permit_access"] = (long)GrantFlags.PermitAccess,
            ["GTF_accept_transfer"] = (long)GrantFlags.AcceptTransfer,
            ["GTF_readonly"] = (long)GrantFlags.ReadOnly,
            ["GTF_reading"] = (long)GrantFlags.Reading,
            ["GTF_writing"] = (long)GrantFlags.Writing,
            ["GNTST_okay"] = (long)GrantStatus.Okay,
            ["GNTST_general_error"] = (long)GrantStatus.GeneralError,
            ["GNTST_bad_domain"] = (long)GrantStatus.BadDomain,
            ["GNTST_bad_gntref"] = (long)GrantStatus.BadGntref,
            ["GNTST_bad_handle"] = (long)GrantStatus.BadHandle,
            ["GNTST_bad_virt_addr"] = (long)GrantStatus.BadVirtAddr,
            ["GNTST_bad_dev_addr"] = (long)GrantStatus.BadDevAddr,
            ["GNTST_no_device_space"] = (long)GrantStatus.NoDeviceSpace,
            ["GNTST_permission_denied"] = (long)GrantStatus.PermissionDenied,
            ["GNTST_bad_page"] = (long)GrantStatus.BadPage,
            ["GNTST_bad_copy_arg"] = (long)GrantStatus.BadCopyArg,
            ["GNTST_address_too_big"] = (long)GrantStatus.AddressTooBig,
            ["GNTST_eagain"] = (long)GrantStatus.EAgain,
            ["GNTST_no_space"] = (long)GrantStatus.NoSpace,
        };
        Assert.Equal(c.Keys.Order(), ours.Keys.Order());
        foreach ((string key, long value) in c)
        {
            Assert.True(ours[key] == value, $"{key}: Xen's headers say {value}, ours {ours[key]}");
        }
    }

    [XenHeadersFact]
    public void A_C_frontend_using_xen_ring_macros_talks_to_our_BackRing_across_processes()
    {
        using TestRunDirectory run = new();
        string file = System.IO.Path.Combine(run.Path, "c-ring");
        const uint pages = 2;
        using SharedFile shared = SharedFile.Create(file, pages * GuestMemory.PageSize);
        long count = Seeds.Stress ? 5_000_000 : 100_000;
        ProcessStartInfo psi = new(XenAbiProgram.Path) { RedirectStandardOutput = true };
        foreach (string a in new[] { "front", file, count.ToString(CultureInfo.InvariantCulture), pages.ToString(CultureInfo.InvariantCulture) })
        {
            psi.ArgumentList.Add(a);
        }

        using Process c = Process.Start(psi)!;
        try
        {
            string? ready = c.StandardOutput.ReadLine();
            Assert.StartsWith("READY ", ready);
            BackRing<TestRequest, TestResponse> back = new(shared.Base, shared.Length);
            Assert.Equal(uint.Parse(ready![6..], CultureInfo.InvariantCulture), back.Size); // RING_SIZE agrees

            long handled = 0;
            long deadline = Environment.TickCount64 + 120_000;
            while (handled < count)
            {
                RingStatus s = back.TryTakeRequest(out TestRequest req);
                if (s == RingStatus.Ok)
                {
                    Assert.True(req.Seq == (ulong)handled && req.IsIntact(), $"request {handled}: seq {req.Seq}, intact {req.IsIntact()}");
                    back.TryWriteResponse(TestResponse.For(req, 0));
                    handled++;
                    continue;
                }

                Assert.NotEqual(RingStatus.Overflow, s);
                back.PushResponsesAndCheckNotify();
                Assert.True(Environment.TickCount64 < deadline, $"stalled at {handled}");
                Thread.SpinWait(1);
            }

            back.PushResponsesAndCheckNotify();
            string rest = c.StandardOutput.ReadToEnd();
            Assert.True(c.WaitForExit(60_000));
            output.WriteLine(rest);
            Assert.Equal(0, c.ExitCode);
            Assert.Contains($"received={count}", rest);
        }
        finally
        {
            if (!c.HasExited)
            {
                c.Kill();
            }
        }
    }

    [XenHeadersFact]
    public void Our_FrontRing_talks_to_a_C_backend_using_xen_ring_macros_across_processes()
    {
        using TestRunDirectory run = new();
        string file = System.IO.Path.Combine(run.Path, "c-ring");
        const uint pages = 4;
        using SharedFile shared = SharedFile.Create(file, pages * GuestMemory.PageSize);
        SharedRing.Initialize(shared.Base); // the frontend initialises, as SHARED_RING_INIT
        long count = Seeds.Stress ? 5_000_000 : 100_000;
        int seed = Seeds.Next();
        ProcessStartInfo psi = new(XenAbiProgram.Path) { RedirectStandardOutput = true };
        foreach (string a in new[] { "back", file, count.ToString(CultureInfo.InvariantCulture), pages.ToString(CultureInfo.InvariantCulture) })
        {
            psi.ArgumentList.Add(a);
        }

        using Process c = Process.Start(psi)!;
        try
        {
            string? ready = c.StandardOutput.ReadLine();
            Assert.StartsWith("READY ", ready);
            FrontRing<TestRequest, TestResponse> front = new(shared.Base, shared.Length);
            Assert.Equal(uint.Parse(ready![6..], CultureInfo.InvariantCulture), front.Size);

            Random rng = new(seed);
            ulong[] salts = new ulong[front.Size];
            long sent = 0, received = 0, deadline = Environment.TickCount64 + 120_000;
            while (received < count)
            {
                int batch = rng.Next(1, (int)front.Size + 1);
                while (sent < count && batch-- > 0 && !front.IsFull)
                {
                    ulong salt = (ulong)rng.NextInt64();
                    salts[sent % front.Size] = salt;
                    front.TryWriteRequest(TestRequest.Make((ulong)sent, salt));
                    sent++;
                }

                front.PushRequestsAndCheckNotify();
                RingStatus s;
                while ((s = front.TryTakeResponse(out TestResponse rsp)) == RingStatus.Ok)
                {
                    TestResponse expected = TestResponse.For(TestRequest.Make((ulong)received, salts[received % front.Size]), 0);
                    Assert.True(rsp.Seq == expected.Seq && rsp.Checksum == expected.Checksum && rsp.Status == 0,
                        $"seed {seed}: response {received}: seq {rsp.Seq} status {rsp.Status}");
                    received++;
                }

                Assert.NotEqual(RingStatus.Overflow, s);
                Assert.True(Environment.TickCount64 < deadline, $"seed {seed}: stalled at {received}");
            }

            string rest = c.StandardOutput.ReadToEnd();
            Assert.True(c.WaitForExit(60_000));
            output.WriteLine($"seed {seed}: {rest}");
            Assert.Equal(0, c.ExitCode);
            Assert.Contains($"handled={count}", rest);
        }
        finally
        {
            if (!c.HasExited)
            {
                c.Kill();
            }
        }
    }
}
