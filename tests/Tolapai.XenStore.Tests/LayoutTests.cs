using System.Runtime.InteropServices;
using Tolapai.Xen.XenStore;

namespace Tolapai.XenStore.Tests;

public class LayoutTests
{
    [Fact]
    public void Header_is_four_native_u32_type_req_tx_len()
    {
        Assert.Equal(16, Marshal.SizeOf<XsHeader>());
        Assert.Equal(0, (int)Marshal.OffsetOf<XsHeader>(nameof(XsHeader.Type)));
        Assert.Equal(4, (int)Marshal.OffsetOf<XsHeader>(nameof(XsHeader.ReqId)));
        Assert.Equal(8, (int)Marshal.OffsetOf<XsHeader>(nameof(XsHeader.TxId)));
        Assert.Equal(12, (int)Marshal.OffsetOf<XsHeader>(nameof(XsHeader.Len)));

        byte[] b = new byte[16];
        new XsHeader(XsMessageType.Write, 0x01020304, 0x0A0B0C0D, 7).Write(b);
        Assert.True(BitConverter.IsLittleEndian);
        Assert.Equal(new byte[] { 11, 0, 0, 0, 4, 3, 2, 1, 0x0D, 0x0C, 0x0B, 0x0A, 7, 0, 0, 0 }, b);
        Assert.Equal(new XsHeader(XsMessageType.Write, 0x01020304, 0x0A0B0C0D, 7), XsHeader.Read(b));
    }

    [Fact]
    public void Message_type_numbers_are_xs_wire_h()
    {
        (XsMessageType Type, int Number)[] expected =
        [
            (XsMessageType.Control, 0), (XsMessageType.Directory, 1), (XsMessageType.Read, 2), (XsMessageType.GetPerms, 3),
            (XsMessageType.Watch, 4), (XsMessageType.Unwatch, 5), (XsMessageType.TransactionStart, 6), (XsMessageType.TransactionEnd, 7),
            (XsMessageType.Introduce, 8), (XsMessageType.Release, 9), (XsMessageType.GetDomainPath, 10), (XsMessageType.Write, 11),
            (XsMessageType.Mkdir, 12), (XsMessageType.Rm, 13), (XsMessageType.SetPerms, 14), (XsMessageType.WatchEvent, 15),
            (XsMessageType.Error, 16), (XsMessageType.IsDomainIntroduced, 17), (XsMessageType.Resume, 18), (XsMessageType.SetTarget, 19),
            (XsMessageType.ResetWatches, 21), (XsMessageType.DirectoryPart, 22),
        ];
        foreach ((XsMessageType t, int n) in expected)
            Assert.Equal(n, (int)t);
        Assert.Equal(23u, XsLimits.TypeCount);
        Assert.Equal(4096, XsLimits.PayloadMax);
        Assert.Equal(3072, XsLimits.AbsolutePathMax);
        Assert.Equal(2048, XsLimits.RelativePathMax);
    }

    [Theory]
    [InlineData("/", true)]
    [InlineData("/local/domain/1/data", true)]
    [InlineData("/a-b_c@d/0", true)]
    [InlineData("", false)]
    [InlineData("/a/", false)]
    [InlineData("/a//b", false)]
    [InlineData("/a b", false)]
    [InlineData("/a.b", false)]
    [InlineData("/caf\u00e9", false)]
    [InlineData("@introduceDomain", false)]
    public void Path_rules_are_xenstored_is_valid_nodename(string path, bool valid) =>
        Assert.Equal(valid, XsPath.IsValid(path, allowSpecial: false));

    [Fact]
    public void Path_length_limits_absolute_and_below_the_domain_home()
    {
        string rel = new('x', XsLimits.RelativePathMax);
        Assert.True(XsPath.IsValid("/local/domain/7/" + rel, false));
        Assert.False(XsPath.IsValid("/local/domain/7/" + rel + "y", false));
        Assert.True(XsPath.IsValid("/" + new string('x', XsLimits.RelativePathMax - 1), false));
        Assert.False(XsPath.IsValid("/" + new string('x', XsLimits.RelativePathMax), false));
    }
}
