using Tolapai.Xen.Toolstack;

namespace Tolapai.Xen.Tests;

/// <summary>The files a suspend, a migration or a dom0's recovery leave for the other side: resume tickets and domain records.</summary>
public sealed class MigrationRecordTests : IDisposable
{
    private const int Pid = 4242;
    private const ulong StartTime = 987654321;
    private readonly string _dir = Directory.CreateTempSubdirectory("tolapai-migration-test-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly Dictionary<string, string> ValidTicket = new(StringComparer.Ordinal)
    {
        ["run-dir"] = "/dev/shm/tolapai/host1",
        ["domid"] = "3",
        ["generation"] = "7",
        ["store-gfn"] = "1023",
        ["store-port"] = "2",
        ["in-place"] = "0",
    };

    private static string Ticket(string? key = null, string? value = null, params string[] extraLines)
    {
        var keys = new Dictionary<string, string>(ValidTicket, StringComparer.Ordinal);
        if (key is not null)
        {
            if (value is null)
            {
                keys.Remove(key);
            }
            else
            {
                keys[key] = value;
            }
        }

        return string.Concat(keys.Select(kv => $"{kv.Key}={kv.Value}\n")) + string.Concat(extraLines.Select(l => l + "\n"));
    }

    [Fact]
    public void A_ticket_written_is_taken_once_and_removed()
    {
        Assert.Null(ResumeTicket.TryTake(_dir, Pid, StartTime)); // no resume/ folder yet

        var ticket = new ResumeTicket("/dev/shm/tolapai/host1", 3, 7, 1023, 2);
        ticket.WriteTo(_dir, Pid, StartTime);
        string path = ResumeTicket.PathFor(_dir, Pid, StartTime);
        Assert.Equal(Path.Combine(_dir, ResumeTicket.FolderName, $"{Pid}-{StartTime}"), path);
        Assert.True(File.Exists(path));
        Assert.Equal([Path.GetFileName(path)], Directory.GetFiles(Path.GetDirectoryName(path)!).Select(Path.GetFileName)); // no .tmp left

        Assert.Null(ResumeTicket.TryTake(_dir, Pid, StartTime + 1)); // another process (same pid, other start time)
        Assert.Equal(ticket, ResumeTicket.TryTake(_dir, Pid, StartTime));
        Assert.False(File.Exists(path));
        Assert.Null(ResumeTicket.TryTake(_dir, Pid, StartTime));

        var inPlace = ticket with { InPlace = true, DomId = 0x7FEF };
        inPlace.WriteTo(_dir, Pid, StartTime);
        Assert.Equal(inPlace, ResumeTicket.TryTake(_dir, Pid, StartTime));
        Assert.Equal(new GuestStartInfo("/dev/shm/tolapai/host1", 0x7FEF, 1023, 2), inPlace.StartInfo);
    }

    [Fact]
    public void A_valid_ticket_text_parses()
    {
        Assert.Equal(new ResumeTicket("/dev/shm/tolapai/host1", 3, 7, 1023, 2, InPlace: false), ResumeTicket.Parse(Ticket(), "t"));
        Assert.True(ResumeTicket.Parse(Ticket("in-place", "1"), "t").InPlace);
        Assert.Equal(0x7FEF, ResumeTicket.Parse(Ticket("domid", "32751"), "t").DomId);
    }

    [Theory]
    [InlineData("run-dir", null)]
    [InlineData("run-dir", "")]
    [InlineData("run-dir", "relative/host1")]
    [InlineData("domid", null)]
    [InlineData("domid", "abc")]
    [InlineData("domid", "-1")]
    [InlineData("domid", "32752")] // 0x7FF0: DOMID_FIRST_RESERVED
    [InlineData("generation", "4294967296")]
    [InlineData("store-gfn", "0x10")]
    [InlineData("store-port", " 2")]
    [InlineData("in-place", "2")]
    [InlineData("in-place", "yes")]
    [InlineData("in-place", null)]
    public void A_malformed_ticket_names_the_key(string key, string? value)
    {
        InvalidDataException e = Assert.Throws<InvalidDataException>(() => ResumeTicket.Parse(Ticket(key, value), "ticket-file"));
        Assert.Contains(key, e.Message, StringComparison.Ordinal);
        Assert.StartsWith("ticket-file: ", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("=3")]
    public void A_ticket_line_without_a_key_is_refused(string line)
    {
        InvalidDataException e = Assert.Throws<InvalidDataException>(() => ResumeTicket.Parse(Ticket(null, null, line), "ticket-file"));
        Assert.Contains($"'{line}'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_malformed_ticket_file_is_invalid_data_and_is_removed()
    {
        string path = ResumeTicket.PathFor(_dir, Pid, StartTime);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, Ticket("domid", "abc"));
        InvalidDataException e = Assert.Throws<InvalidDataException>(() => ResumeTicket.TryTake(_dir, Pid, StartTime));
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void A_domain_record_round_trips()
    {
        var record = new DomainRecord("guest-a", ["ixp/0", "ixp/3"]);
        record.Write(_dir, 5);
        Assert.True(File.Exists(DomainRecord.PathFor(_dir, 5)));
        Assert.Equal(Path.Combine(_dir, "dom5.cfg"), DomainRecord.PathFor(_dir, 5));
        Assert.Equal(["dom5.cfg"], Directory.GetFiles(_dir).Select(Path.GetFileName)); // no .tmp left

        DomainRecord back = DomainRecord.TryRead(_dir, 5)!;
        Assert.Equal("guest-a", back.Name);
        Assert.Equal(["ixp/0", "ixp/3"], back.Devices);

        new DomainRecord("no-devices", []).Write(_dir, 5); // overwrites
        back = DomainRecord.TryRead(_dir, 5)!;
        Assert.Equal("no-devices", back.Name);
        Assert.Empty(back.Devices);

        Assert.Null(DomainRecord.TryRead(_dir, 6));
        Assert.Null(DomainRecord.TryRead(Path.Combine(_dir, "missing"), 5));
    }

    [Theory]
    [InlineData("name=g\ncolour=blue\n")]
    [InlineData("name=g\ndevice=vbd/0\n")]
    [InlineData("name=g\ndevice=ixp/x\n")]
    [InlineData("name=g\ndevice=ixp/-1\n")]
    [InlineData("name=g\ndevice=ixp\n")]
    [InlineData("name=g\ndevice=/0\n")]
    [InlineData("device=ixp/0\n")]
    [InlineData("name=\ndevice=ixp/0\n")]
    [InlineData("")]
    public void A_malformed_domain_record_reads_as_none(string text)
    {
        File.WriteAllText(DomainRecord.PathFor(_dir, 2), text);
        Assert.Null(DomainRecord.TryRead(_dir, 2));
    }
}
